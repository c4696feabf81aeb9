// swift-tools-version:6.1
// PGM + SDTT in Swift. The folder list is the pipeline: corpus → pretrain → teacher targets →
// student rounds → report/export. See README.md for the module map.
import Foundation
import PackageDescription

// The numeric kernels are written with SIMD vectors (SIMD16<Float>). On x86-64 the baseline ISA
// has no AVX2/FMA, and Swift lowers those vectors to scalar loops (~25x slower), so x86-64 builds
// target Haswell (x86-64-v3) and the `pgm` executable checks the CPU before using the kernels.
// arm64 (Linux, macOS) needs no flag: NEON is its baseline and the same SIMD types lower to it.
// The flag is unsafe in SwiftPM's sense (a package that depends on this one refuses unsafe flags),
// so `PGM_PORTABLE=1` drops it: a portable build (slow kernels) usable as a dependency or on an
// x86-64 CPU without AVX2.
#if arch(x86_64)
let optimizeForHaswell = ProcessInfo.processInfo.environment["PGM_PORTABLE"] == nil
#else
let optimizeForHaswell = false
#endif
let kernels: [SwiftSetting] = optimizeForHaswell ? [.unsafeFlags(["-target-cpu", "haswell"])] : []

let package = Package(
  name: "pgm",
  platforms: [.macOS(.v14)],
  products: [
    .executable(name: "pgm", targets: ["pgm"]),
  ],
  dependencies: [
    .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
    .package(url: "https://github.com/apple/swift-crypto", from: "3.12.3"),
  ],
  targets: [
    // System libraries (found with pkg-config; Debian: libopenblas-dev, libhdf5-dev).
    .systemLibrary(name: "CBLAS", path: "Sources/CBLAS", pkgConfig: "openblas",
                   providers: [.apt(["libopenblas-dev"])]),
    .systemLibrary(name: "CHDF5", path: "Sources/CHDF5", pkgConfig: "hdf5",
                   providers: [.apt(["libhdf5-dev"])]),
    // Open MPI (Debian: libopenmpi-dev; mpirun from openmpi-bin). Linked, so `pgm` needs libmpi at
    // run time; only `Cluster` imports it, and calls it only under an `mpirun` launch.
    .systemLibrary(name: "CMPI", path: "Sources/CMPI", pkgConfig: "ompi-c",
                   providers: [.apt(["libopenmpi-dev"])]),

    // Tensors, buffers, the autograd tape and the kernels: the only place with unsafe pointers.
    .target(name: "Engine", dependencies: ["CBLAS"], swiftSettings: kernels),
    // safetensors and the torch.save (zip + pickle) reader. The zip reader is our own: checkpoints
    // need random access into stored entries and strict bounds checks on malformed files.
    .target(name: "Formats"),
    // Typed HDF5 files: datasets, chunking, compression, attributes, incremental appends.
    .target(name: "HDF5", dependencies: ["CHDF5", .product(name: "Crypto", package: "swift-crypto")]),
    // Byte-level BPE (GPT-2, trained here) and character tokenizers.
    .target(name: "Tokenizers", dependencies: ["Formats", .product(name: "Crypto", package: "swift-crypto")]),
    // The MDLM `DIT` and the partition `PartitionDIT`, with the reference's parameter names.
    .target(name: "Networks", dependencies: ["Engine"], swiftSettings: kernels),
    // Model folders (config.json + model.safetensors), training checkpoints, import and export.
    .target(name: "Checkpoints", dependencies: ["Networks", "Formats",
                                                 .product(name: "Crypto", package: "swift-crypto")]),
    // Token datasets in HDF5: text corpora and the synthetic Markov source with exact metrics.
    .target(name: "Corpus", dependencies: ["HDF5", "Tokenizers", "Engine"], swiftSettings: kernels),
    // The masked-diffusion process, once: noise schedule, ε conventions, time draws, masking, the
    // masked predictions and their normalisation — what Teacher, Student and evaluation share.
    .target(name: "MaskedDiffusion", dependencies: ["Networks", "Engine"], swiftSettings: kernels),
    // Everything that generates: samplers, the frozen teacher and its k-step targets.
    .target(name: "Teacher", dependencies: ["MaskedDiffusion", "Networks", "Engine"], swiftSettings: kernels),
    // Everything that learns: losses, AdamW, EMA, the training loop.
    .target(name: "Student", dependencies: ["MaskedDiffusion", "Networks", "Checkpoints", "Formats", "Engine"],
            swiftSettings: kernels),
    // Checks this implementation against reference outputs (`pgm verify`).
    .target(name: "Parity", dependencies: ["Student", "MaskedDiffusion", "Checkpoints", "Formats", "Networks", "Engine"],
            swiftSettings: kernels),
    // The processes of an `mpirun` job and the collectives between them (one process: rank 0 of 1,
    // no MPI call). The only place calling MPI.
    .target(name: "Cluster", dependencies: ["CMPI"]),
    // Rounds, target stores, evaluation and the trade-off report; under mpirun, the division of
    // the work between ranks (sharded targets, data-parallel training, rank 0 the only writer).
    .target(name: "Distill", dependencies: ["Teacher", "Student", "MaskedDiffusion", "Formats", "Corpus", "Tokenizers", "Checkpoints", "HDF5",
                                           "Networks", "Engine", "Cluster",
                                           .product(name: "Crypto", package: "swift-crypto")],
            swiftSettings: kernels),
    // The command line only: parse, call one function, print.
    .executableTarget(name: "pgm", dependencies: [
      "Distill", "MaskedDiffusion", "Checkpoints", "Corpus", "Tokenizers", "Formats", "HDF5", "Student", "Teacher", "Networks",
      "Engine", "Parity", "Cluster",
      .product(name: "ArgumentParser", package: "swift-argument-parser"),
    ]),

    .target(name: "TestSupport", path: "Tests/TestSupport"),
    .testTarget(name: "EngineTests", dependencies: ["Engine"], swiftSettings: kernels),
    .testTarget(name: "FormatsTests", dependencies: ["Formats", "TestSupport"]),
    .testTarget(name: "HDF5Tests", dependencies: ["HDF5", "TestSupport"]),
    .testTarget(name: "TokenizersTests", dependencies: ["Tokenizers", "Formats", "TestSupport"]),
    .testTarget(name: "CheckpointsTests", dependencies: ["MaskedDiffusion", "Checkpoints", "Formats", "Networks", "Tokenizers", "TestSupport"]),
    .testTarget(name: "CorpusTests", dependencies: ["Corpus", "HDF5", "Tokenizers", "Engine", "TestSupport"]),
    .testTarget(name: "TeacherTests", dependencies: ["MaskedDiffusion", "Teacher", "Networks", "Engine", "Checkpoints", "TestSupport"],
                swiftSettings: kernels),
    .testTarget(name: "StudentTests", dependencies: ["MaskedDiffusion", "Student", "Teacher", "Networks", "Engine", "Checkpoints", "TestSupport"],
                swiftSettings: kernels),
    .testTarget(name: "DistillTests", dependencies: ["MaskedDiffusion", "Distill", "Teacher", "Student", "Corpus", "Checkpoints", "HDF5",
                                                   "Networks", "Engine", "Formats", "Tokenizers", "Cluster", "TestSupport"],
                swiftSettings: kernels),
    .testTarget(name: "ClusterTests", dependencies: ["Cluster", "TestSupport"]),
    .testTarget(name: "NetworksTests", dependencies: ["MaskedDiffusion", "Networks", "Checkpoints", "Formats", "Parity", "Student", "TestSupport"],
                swiftSettings: kernels),
  ],
  swiftLanguageModes: [.v5]
)
