// swift-tools-version:6.0
import PackageDescription

let package = Package(
    name: "Quanta",
    products: [
        .library(name: "Quanta", targets: ["Quanta"]),
        .executable(name: "quanta", targets: ["quanta"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
    ],
    targets: [
        // Element formats (INT, FP8, FP6, FP4, E8M0, BF16, FP16) and MX blocks. No dependencies; bit-exact.
        .target(name: "QuantaFormats"),
        // Tensors, quantization primitives, calibration, algorithms, models, runtime, evaluation.
        // OpenBLAS's cblas (Debian libopenblas-dev): the FP32 matrix products and the baseline of every speed-up.
        .systemLibrary(name: "COpenBLAS", providers: [.apt(["libopenblas-dev"])]),
        // INT8 kernels in C: portable, AVX2 and AVX-512 VNNI paths chosen at run time (function-level target
        // attributes; no extra compiler flags), bit-identical to each other.
        .target(name: "QuantaKernels"),
        // On Apple platforms the FP32 products come from Accelerate's cblas instead (not built here: Linux only).
        .target(
            name: "Quanta",
            dependencies: ["QuantaFormats", .target(name: "COpenBLAS", condition: .when(platforms: [.linux])), "QuantaKernels"],
            linkerSettings: [.linkedFramework("Accelerate", .when(platforms: [.macOS, .iOS]))]
        ),
        // The command-line tool: parse, call the library, print.
        .executableTarget(
            name: "quanta",
            dependencies: ["Quanta", .product(name: "ArgumentParser", package: "swift-argument-parser")]
        ),
        .testTarget(name: "QuantaFormatsTests", dependencies: ["QuantaFormats"]),
        .testTarget(name: "QuantaTests", dependencies: ["Quanta", "QuantaKernels"]),
        .testTarget(name: "QuantaCLITests", dependencies: ["quanta"]),
        // Real models against outside oracles; run in release mode by `make test` (needs the fetched assets).
        .testTarget(name: "QuantaModelTests", dependencies: ["Quanta"]),
    ],
    swiftLanguageModes: [.v6]
)
