// Users of `import Quanta` see the element formats too.
@_exported import QuantaFormats
