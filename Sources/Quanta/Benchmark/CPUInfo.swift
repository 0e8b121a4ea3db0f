import Foundation

/// What the benchmarks print about the machine: model name and the SIMD flags that matter to the kernels.
public struct CPUInfo: Sendable {
    public let model: String
    public let flags: [String]
    public let logicalCores: Int

    /// Reads /proc/cpuinfo where it exists (Linux); elsewhere model and flags are "unknown".
    public static func current() -> CPUInfo {
        let text = (try? String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8)) ?? ""
        func field(_ name: String) -> String? {
            text.split(separator: "\n").first { $0.hasPrefix(name) }
                .flatMap { $0.split(separator: ":", maxSplits: 1).last }
                .map { $0.trimmingCharacters(in: .whitespaces) }
        }
        let interesting = ["sse4_1", "sse4_2", "avx", "avx2", "fma", "f16c", "avx512f", "avx512bw", "avx512_vnni", "avx_vnni"]
        let present = Set((field("flags") ?? "").split(separator: " ").map(String.init))
        return CPUInfo(model: field("model name") ?? "unknown",
                       flags: interesting.filter(present.contains),
                       logicalCores: ProcessInfo.processInfo.activeProcessorCount)
    }

    public var summary: String { "\(model); \(logicalCores) cores; flags: \(flags.joined(separator: " "))" }
}
