import ArgumentParser
import Engine
import Foundation
import Parity

struct VerifyCommand: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "verify",
    abstract: "Compare this implementation with reference outputs (a folder in the golden format).",
    discussion: """
      DIR holds config.json, weights.safetensors (or the file given with --weights) and cases.safetensors.
      Compared: training-mode logits, inference-mode logits (partition), loss, per-token loss and every
      parameter gradient, as max|ours − ref| / max|ref|. Exit status 1 above the tolerance.
      """)

  @Argument(help: "Folder with config.json, weights.safetensors and cases.safetensors.")
  var dir: String

  @Option(help: "Weights to check instead of DIR/weights.safetensors.")
  var weights: String?

  @Flag(help: "Print one JSON object (field worst_relative_error) instead of tables.")
  var json = false

  @Option(help: "Accumulation of matrix products: float64 (default; the references are float64 runs) or float32 (the production kernels).")
  var precision: MatrixPrecision = .float64

  @Option(help: "Largest accepted relative error.")
  var tolerance: Double = 1e-4

  func run() throws {
    let report = try reportingErrors {
      var check = ReferenceCheck(folder: URL(fileURLWithPath: dir), weights: weights.map { URL(fileURLWithPath: $0) },
                                 precision: precision)
      check.tolerance = tolerance
      return try check.run()
    }
    print(json ? try Output.json(report) : "\(report.folder) (\(report.kind), \(report.precision.rawValue) products)\n\(report.table)")
    if !report.passed { throw ExitCode.failure }
  }
}

extension MatrixPrecision: ExpressibleByArgument {}

/// `pgm export-logits MODEL_DIR --out F.safetensors` (hidden): a fixed batch of inputs and this
/// implementation's logits, in the golden cases layout, for `scripts/check-export-with-reference`.
struct ExportLogitsCommand: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "export-logits",
    abstract: "Write a fixed batch of inputs and this implementation's logits for a model folder (golden cases layout).",
    shouldDisplay: false)

  @Argument(help: "A model folder (e.g. an export).")
  var model: String

  @Option(help: "The safetensors file to write.")
  var out: String

  @Option(help: "Rows of the batch.")
  var batch = 3

  @Option(help: "Seed of the inputs.")
  var seed: UInt64 = 0

  @Option(help: "Accumulation of matrix products: float32 (the production kernels, default) or float64.")
  var precision: MatrixPrecision = .float32

  func run() throws {
    let summary = try reportingErrors {
      try ExportLogits.write(modelFolder: URL(fileURLWithPath: model), to: URL(fileURLWithPath: out), batch: batch, seed: seed,
                             precision: precision)
    }
    print(try Output.json(summary))
  }
}
