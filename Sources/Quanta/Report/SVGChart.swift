import Foundation

/// A small SVG chart drawn by Quanta itself: one plot area with axes, ticks and a legend, holding bar
/// series, point series and vertical markers. Coordinates are data units; `logY` plots log10 of y.
public struct SVGChart: Sendable {
    public enum Mark: Sendable {
        /// Bars at x (centre) with height y, of width `width` in data units.
        case bars(x: [Double], y: [Double], width: Double, color: String, label: String)
        /// Points with optional text labels.
        case points(x: [Double], y: [Double], labels: [String], color: String, label: String)
        /// A vertical line at x.
        case vertical(x: Double, color: String, label: String)
    }

    public var title: String
    public var xLabel: String
    public var yLabel: String
    public var logY = false
    public var marks: [Mark] = []
    public var width = 760.0, height = 420.0

    public init(title: String, xLabel: String, yLabel: String, logY: Bool = false) {
        self.title = title
        self.xLabel = xLabel
        self.yLabel = yLabel
        self.logY = logY
    }

    /// The chart as an SVG document.
    public func render() -> String {
        let left = 70.0, right = 180.0, top = 40.0, bottom = 50.0
        let plotWidth = width - left - right, plotHeight = height - top - bottom
        var xs = [Double](), ys = [Double]()
        for mark in marks {
            switch mark {
            case let .bars(x, y, w, _, _): xs += x.map { $0 - w / 2 } + x.map { $0 + w / 2 }; ys += y + [logY ? y.filter { $0 > 0 }.min() ?? 1 : 0]
            case let .points(x, y, _, _, _): xs += x; ys += y
            case let .vertical(x, _, _): xs.append(x)
            }
        }
        let ty: (Double) -> Double = { logY ? log10(max($0, 1e-12)) : $0 }
        let xMin = xs.min() ?? 0, xMax = max(xs.max() ?? 1, xMin + 1e-9)
        let tys = (logY ? ys.filter { $0 > 0 } : ys).map(ty)
        var yMin = tys.min() ?? 0, yMax = tys.max() ?? 1
        if yMax - yMin < 1e-9 { yMax = yMin + 1 }
        let pad = (yMax - yMin) * 0.05
        yMin -= logY ? pad : (yMin == 0 ? 0 : pad)
        yMax += pad
        func px(_ x: Double) -> Double { left + (x - xMin) / (xMax - xMin) * plotWidth }
        func py(_ y: Double) -> Double { top + (1 - (ty(y) - yMin) / (yMax - yMin)) * plotHeight }
        func f(_ v: Double) -> String { String(format: "%.1f", v) }
        func escape(_ s: String) -> String { s.replacingOccurrences(of: "&", with: "&amp;").replacingOccurrences(of: "<", with: "&lt;").replacingOccurrences(of: ">", with: "&gt;") }
        var svg = ["<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"\(Int(width))\" height=\"\(Int(height))\" font-family=\"sans-serif\" font-size=\"12\">",
                   "<rect width=\"100%\" height=\"100%\" fill=\"white\"/>",
                   "<text x=\"\(f(width / 2))\" y=\"22\" text-anchor=\"middle\" font-size=\"15\">\(escape(title))</text>"]
        // Axes and ticks.
        svg.append("<line x1=\"\(f(left))\" y1=\"\(f(top + plotHeight))\" x2=\"\(f(left + plotWidth))\" y2=\"\(f(top + plotHeight))\" stroke=\"black\"/>")
        svg.append("<line x1=\"\(f(left))\" y1=\"\(f(top))\" x2=\"\(f(left))\" y2=\"\(f(top + plotHeight))\" stroke=\"black\"/>")
        for i in 0...5 {
            let xv = xMin + (xMax - xMin) * Double(i) / 5, yv = yMin + (yMax - yMin) * Double(i) / 5
            svg.append("<text x=\"\(f(px(xv)))\" y=\"\(f(top + plotHeight + 16))\" text-anchor=\"middle\">\(Self.tick(xv))</text>")
            let label = logY ? Self.tick(pow(10, yv)) : Self.tick(yv)
            let y = top + (1 - Double(i) / 5) * plotHeight
            svg.append("<text x=\"\(f(left - 6))\" y=\"\(f(y + 4))\" text-anchor=\"end\">\(label)</text>")
            svg.append("<line x1=\"\(f(left))\" y1=\"\(f(y))\" x2=\"\(f(left + plotWidth))\" y2=\"\(f(y))\" stroke=\"#ddd\"/>")
        }
        svg.append("<text x=\"\(f(left + plotWidth / 2))\" y=\"\(f(height - 12))\" text-anchor=\"middle\">\(escape(xLabel))</text>")
        svg.append("<text transform=\"translate(16 \(f(top + plotHeight / 2))) rotate(-90)\" text-anchor=\"middle\">\(escape(yLabel))</text>")
        // Marks and legend.
        for (i, mark) in marks.enumerated() {
            let legendY = top + 14 + Double(i) * 18
            let (color, label): (String, String)
            switch mark {
            case let .bars(x, y, w, c, l):
                (color, label) = (c, l)
                let barWidth = max(w / (xMax - xMin) * plotWidth, 0.6)
                for (xv, yv) in zip(x, y) where !logY || yv > 0 {
                    let y0 = logY ? top + plotHeight : py(0), y1 = py(yv)
                    svg.append("<rect x=\"\(f(px(xv) - barWidth / 2))\" y=\"\(f(min(y0, y1)))\" width=\"\(f(barWidth))\" height=\"\(f(abs(y0 - y1)))\" fill=\"\(c)\" fill-opacity=\"0.75\"/>")
                }
            case let .points(x, y, labels, c, l):
                (color, label) = (c, l)
                for (k, (xv, yv)) in zip(x, y).enumerated() {
                    svg.append("<circle cx=\"\(f(px(xv)))\" cy=\"\(f(py(yv)))\" r=\"4\" fill=\"\(c)\"/>")
                    if k < labels.count { svg.append("<text x=\"\(f(px(xv) + 6))\" y=\"\(f(py(yv) - 6))\" font-size=\"10\">\(escape(labels[k]))</text>") }
                }
            case let .vertical(x, c, l):
                (color, label) = (c, l)
                svg.append("<line x1=\"\(f(px(x)))\" y1=\"\(f(top))\" x2=\"\(f(px(x)))\" y2=\"\(f(top + plotHeight))\" stroke=\"\(c)\" stroke-width=\"1.5\" stroke-dasharray=\"5 3\"/>")
            }
            svg.append("<rect x=\"\(f(width - right + 12))\" y=\"\(f(legendY - 9))\" width=\"12\" height=\"10\" fill=\"\(color)\"/>")
            svg.append("<text x=\"\(f(width - right + 30))\" y=\"\(f(legendY))\">\(escape(label))</text>")
        }
        svg.append("</svg>")
        return svg.joined(separator: "\n") + "\n"
    }

    static func tick(_ v: Double) -> String {
        let a = abs(v)
        if a == 0 { return "0" }
        if a >= 1e4 || a < 1e-2 { return String(format: "%.1e", v) }
        if a >= 100 { return String(format: "%.0f", v) }
        return String(format: "%.3g", v)
    }

    /// A palette of distinguishable colours.
    public static let palette = ["#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2", "#17becf", "#7f7f7f", "#bcbd22"]
}
