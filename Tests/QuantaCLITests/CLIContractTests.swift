import Foundation
import Testing

/// Runs the built `quanta` executable the way a script would and checks the CLI contract.
struct CommandResult {
    let status: Int32
    let stdout: String
    let stderr: String
}

func quanta(_ arguments: [String], input: String = "") throws -> CommandResult {
    // The test binary sits beside the products in the build folder.
    let buildFolder = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent()
    let candidates = [buildFolder, buildFolder.deletingLastPathComponent()].map { $0.appendingPathComponent("quanta") }
    guard let executable = candidates.first(where: { FileManager.default.isExecutableFile(atPath: $0.path) }) else {
        throw CocoaError(.fileNoSuchFile, userInfo: [NSFilePathErrorKey: candidates[0].path])
    }
    let process = Process()
    process.executableURL = executable
    process.arguments = arguments
    let stdin = Pipe(), stdout = Pipe(), stderr = Pipe()
    process.standardInput = stdin
    process.standardOutput = stdout
    process.standardError = stderr
    try process.run()
    stdin.fileHandleForWriting.write(Data(input.utf8))
    try stdin.fileHandleForWriting.close()
    let out = stdout.fileHandleForReading.readDataToEndOfFile()
    let err = stderr.fileHandleForReading.readDataToEndOfFile()
    process.waitUntilExit()
    return CommandResult(status: process.terminationStatus, stdout: String(decoding: out, as: UTF8.self),
                         stderr: String(decoding: err, as: UTF8.self))
}

@Suite struct CLIContractTests {
    @Test func encodePrintsTwoDigitLowerCaseHexCodes() throws {
        let r = try quanta(["encode", "--format", "fp8-e4m3"], input: "448 1e9\n-0 0.001953125\tnan\n")
        #expect(r.status == 0)
        #expect(r.stdout == "0x7e\n0x7e\n0x80\n0x01\n0x7f\n")
        let n = try quanta(["encode", "--format", "fp8-e4m3", "--no-saturate"], input: "464 464.1 inf")
        #expect(n.stdout == "0x7e\n0x7f\n0x7f\n")
        let e5 = try quanta(["encode", "--format", "fp8-e5m2", "--no-saturate"], input: "57344 61440 -inf")
        #expect(e5.stdout == "0x7b\n0x7c\n0xfc\n")
        let fp4 = try quanta(["encode", "--format", "fp4-e2m1"], input: "0.25 0.75 2.5 -5 100")
        #expect(fp4.stdout == "0x00\n0x02\n0x04\n0x0e\n0x07\n")
    }

    @Test func decodePrintsTheShortestRoundTrippingDecimal() throws {
        let r = try quanta(["decode", "--format", "fp8-e5m2"], input: "0x7b 0x7c 0xfc 0x7d 0x01 0x80 3c")
        #expect(r.status == 0)
        #expect(r.stdout == "57344\ninf\n-inf\nnan\n1.5258789e-05\n-0\n1\n")
    }

    @Test func formatsListsEveryCodePoint() throws {
        let r = try quanta(["formats", "fp6-e2m3"])
        let lines = r.stdout.split(separator: "\n")
        #expect(r.status == 0 && lines.count == 64)
        #expect(lines.first == "0x00 0" && lines[31] == "0x1f 7.5" && lines[63] == "0x3f -7.5")
    }

    @Test func mxQuantizesConsecutiveBlocks() throws {
        let input = (1...40).map(String.init).joined(separator: " ")
        let r = try quanta(["mx", "--format", "mxfp4-e2m1"], input: input)
        #expect(r.status == 0)
        let values = r.stdout.split(separator: "\n").compactMap { Float(String($0)) }
        #expect(values.count == 40)
        // Block 1: amax 32, X = 2^(5 - 2) = 8; 1/8 -> 0, 3/8 -> 0.5 (x8 = 4), 32/8 = 4 -> 32.
        #expect(values[0] == 0 && values[2] == 4 && values[31] == 32)
        // Block 2 (8 values, 33..40): amax 40, X = 8; 33/8 = 4.125 -> 4 -> 32; 40/8 = 5 -> tie 4|6 -> 4 -> 32.
        #expect(values[32] == 32 && values[39] == 32)
        let int8 = try quanta(["mx", "--format", "mxint8", "--block", "2"], input: "1 -0.5 3 0")
        #expect(int8.stdout == "1\n-0.5\n3\n0\n")
    }

    @Test func unknownFormatExitsTwoListingTheValidNames() throws {
        for command in [["encode", "--format", "fp7"], ["decode", "--format", "fp7"], ["formats", "fp7"]] {
            let r = try quanta(command, input: "1")
            #expect(r.status == 2 && r.stdout.isEmpty)
            #expect(r.stderr.contains("fp8-e4m3 fp8-e5m2 fp6-e2m3 fp6-e3m2 fp4-e2m1 e8m0"))
        }
        let mx = try quanta(["mx", "--format", "mxfp7"], input: "1")
        #expect(mx.status == 2 && mx.stderr.contains("mxfp8-e4m3") && mx.stderr.contains("mxint8"))
    }

    @Test func unparsableNumberExitsOneNamingLineAndTextAndPrintsNothing() throws {
        let r = try quanta(["encode", "--format", "fp8-e4m3"], input: "1 2\n3 abc 4\n")
        #expect(r.status == 1 && r.stdout.isEmpty)
        #expect(r.stderr.contains("line 2") && r.stderr.contains("'abc'"))
        let d = try quanta(["decode", "--format", "fp4-e2m1"], input: "0x01\n0x10\n")
        #expect(d.status == 1 && d.stdout.isEmpty && d.stderr.contains("line 2") && d.stderr.contains("'0x10'"))
        let m = try quanta(["mx", "--format", "mxint8"], input: "1\n\n2,5")
        #expect(m.status == 1 && m.stdout.isEmpty && m.stderr.contains("line 3"))
        let b = try quanta(["mx", "--format", "mxint8", "--block", "0"], input: "1")
        #expect(b.status != 0 && b.stdout.isEmpty)
    }

    @Test func benchGemmRefusesAShapeItCannotParse() throws {
        let r = try quanta(["bench", "gemm", "--shapes", "16x16x16,16x0x16"])
        #expect(r.status != 0 && r.stdout.isEmpty && r.stderr.contains("'16x0x16'"))
    }

    /// A GEMV shape brings the weights' read rate into its rows and a dram-read row, the rate's ceiling, timed in the
    /// same rounds.
    @Test func benchGemmReportsTheReadRateOfAGEMV() throws {
        let r = try quanta(["bench", "gemm", "--shapes", "1x256x256", "--runs", "1", "--json"])
        #expect(r.status == 0)
        let rows = try #require(try JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as? [[String: Any]])
        let fp32 = try #require(rows.first { $0["kernel"] as? String == "fp32" })
        let read = try #require(rows.first { $0["kernel"] as? String == "dram-read" })
        // fp32 reads 4 bytes per weight: 256 * 256 * 4 bytes in median_ms.
        let ms = try #require(fp32["median_ms"] as? Double), rate = try #require(fp32["weight_gb_per_s"] as? Double)
        #expect(abs(rate - 262_144 / (ms * 1e6)) <= 1e-6 * rate)
        #expect(try #require(read["weight_gb_per_s"] as? Double) > 0)
        // Quanta's kernels are timed in the same rounds as that read: each one's rate is a share of it.
        #expect(try #require(read["path"] as? String).contains("these rounds"))
        let i8f32 = try #require(rows.first { $0["kernel"] as? String == "i8f32" })
        let share = try #require(i8f32["share_of_read"] as? Double)
        let expected = try #require(i8f32["weight_gb_per_s"] as? Double) / #require(read["weight_gb_per_s"] as? Double)
        #expect(abs(share - expected) <= 1e-9 * expected)
    }
}
