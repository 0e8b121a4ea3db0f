/// An OCP Microscaling (MX v1.0) block format: blocks of k elements share one E8M0 scale X = 2^e.
public struct MXFormat: Sendable, Hashable, CustomStringConvertible {
    /// What one element of a block is.
    public enum Element: Sendable, Hashable {
        /// A small float (E4M3, E5M2, E2M3, E3M2, E2M1).
        case float(FloatFormat)
        /// MXINT8: an int8 code q in [-127, 127] read as the fixed-point value q * 2^-6.
        case int8
    }

    public let name: String
    public let element: Element

    public init(name: String, element: Element) {
        self.name = name
        self.element = element
    }

    public var description: String { name }

    /// emax of the element: floor(log2(largest element value)); 0 for MXINT8 (largest 127/64).
    public var elementMaxExponent: Int {
        switch element {
        case let .float(format): return format.maxExponent
        case .int8: return 0
        }
    }

    /// Bits per element code: 8, 6 or 4.
    public var elementBits: Int {
        switch element {
        case let .float(format): return format.bitWidth
        case .int8: return 8
        }
    }

    /// Storage of one block: one E8M0 byte plus the packed elements.
    public func bytesPerBlock(blockSize: Int) -> Int {
        1 + PackedCodes.byteCount(count: blockSize, bitWidth: elementBits)
    }

    /// Bits per element including the shared scale, e.g. 8.25 for MXFP8 with blocks of 32.
    public func bitsPerElement(blockSize: Int) -> Double {
        Double(8 * bytesPerBlock(blockSize: blockSize)) / Double(blockSize)
    }

    public static let mxfp8e4m3 = MXFormat(name: "mxfp8-e4m3", element: .float(.e4m3))
    public static let mxfp8e5m2 = MXFormat(name: "mxfp8-e5m2", element: .float(.e5m2))
    public static let mxfp6e2m3 = MXFormat(name: "mxfp6-e2m3", element: .float(.e2m3))
    public static let mxfp6e3m2 = MXFormat(name: "mxfp6-e3m2", element: .float(.e3m2))
    public static let mxfp4e2m1 = MXFormat(name: "mxfp4-e2m1", element: .float(.e2m1))
    public static let mxint8 = MXFormat(name: "mxint8", element: .int8)

    public static let all: [MXFormat] = [.mxfp8e4m3, .mxfp8e5m2, .mxfp6e2m3, .mxfp6e3m2, .mxfp4e2m1, .mxint8]

    public static func named(_ name: String) -> MXFormat? { all.first { $0.name == name } }
}
