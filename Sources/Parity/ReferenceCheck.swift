import Engine
import Formats
import Foundation
import Networks
import Checkpoints
import Student

/// Compares this implementation with outputs of the reference code, from a folder in the golden
/// format: `config.json`, `weights.safetensors` (or another weights file), `cases.safetensors`.
/// Compared: training-mode logits, inference-mode logits (partition), loss and per-token loss,
/// and the gradient of the loss for every parameter. The measure is max|ours − ref| / max|ref|.
///
/// The reference outputs come from float64 runs. By default matrix products here accumulate in
/// float64 too (`precision: .float64`), which separates implementation errors from float32
/// rounding: on small networks the gradients are ill-conditioned enough that rounding the weights
/// to float32 alone moves them by ~1e-4. `.float32` checks the production kernels as they run.
public struct ReferenceCheck {
  public struct Comparison: Codable {
    public let group: String
    public let name: String
    public let maxAbsError: Double
    public let maxAbsReference: Double
    public let relativeError: Double
    enum CodingKeys: String, CodingKey {
      case group, name, maxAbsError = "max_abs_error", maxAbsReference = "max_abs_reference", relativeError = "relative_error"
    }
  }

  public struct Report: Codable {
    public let folder: String
    public let kind: String
    public let precision: MatrixPrecision
    public let tolerance: Double
    public let comparisons: [Comparison]
    public let worstRelativeError: Double
    public let passed: Bool
    enum CodingKeys: String, CodingKey {
      case folder, kind, precision, tolerance, comparisons, worstRelativeError = "worst_relative_error", passed
    }

    /// One row per tensor group: how many tensors, the worst relative error, pass/fail.
    public var table: String {
      var order: [String] = []
      var worst: [String: Double] = [:], counts: [String: Int] = [:]
      for c in comparisons {
        if worst[c.group] == nil { order.append(c.group) }
        worst[c.group] = max(worst[c.group] ?? 0, c.relativeError)
        counts[c.group, default: 0] += 1
      }
      let width = max(24, (order.map(\.count).max() ?? 0) + 2)
      var lines = ["group".padding(toLength: width, withPad: " ", startingAt: 0) + "tensors  worst rel. error  status"]
      for g in order {
        let w = worst[g]!
        lines.append(g.padding(toLength: width, withPad: " ", startingAt: 0)
          + String(format: "%7d  %16.3e  %@", counts[g]!, w, w <= tolerance ? "ok" : "FAIL"))
      }
      lines.append(String(format: "worst relative error %.3e (tolerance %.0e): %@", worstRelativeError, tolerance,
                          passed ? "PASS" : "FAIL"))
      return lines.joined(separator: "\n")
    }
  }

  public let folder: URL
  public let weights: URL?
  public var tolerance = 1e-4
  public var precision: MatrixPrecision

  public init(folder: URL, weights: URL? = nil, precision: MatrixPrecision = .float64) {
    self.folder = folder
    self.weights = weights
    self.precision = precision
  }

  public func run() throws -> Report {
    let config = try ModelFolder.readConfig(folder.appendingPathComponent("config.json"))
    let network = try Network(config)
    try ModelFolder.loadWeights(into: network.parameters,
                                from: weights ?? folder.appendingPathComponent("weights.safetensors"))
    let casesURL = folder.appendingPathComponent("cases.safetensors")
    guard FileManager.default.fileExists(atPath: casesURL.path) else {
      throw CheckpointError.missingFile(casesURL.path, "the reference cases")
    }
    let cases = Cases(file: try SafeTensorsFile(url: casesURL), config: config)
    var out: [Comparison] = []

    let g = Graph(recording: true, training: false, precision: precision)
    let x0 = try cases.tokens("train.x0")
    let t = try cases.floats("train.t").map(Double.init)
    let result: LossResult
    switch network {
    case .partition(let pgm):
      let groups = try cases.tokens("train.group_idxs", shape: x0.shape)
      result = DiffusionLoss.partition(g, network: pgm, tokens: x0, groups: groups, t: t)
    case .mdlm(let dit):
      let xt = try cases.tokens("train.xt", shape: x0.shape)
      result = DiffusionLoss.mdlm(g, network: dit, clean: x0, noisy: xt, t: t)
    case .autoregressive:
      throw CheckpointError.invalid(folder.path, "no reference cases for an autoregressive network (the reference has no such network)")
    }
    out.append(try compare("training logits", "train.logits", result.logits.value.toArray(), cases))
    out.append(try compare("loss", "train.loss", result.loss.value.toArray(), cases))
    out.append(try compare("loss", "train.token_loss", result.tokenLoss, cases))
    g.backward(from: result.loss)
    for (name, tensor) in zip(network.parameters.names, network.parameters.tensors) {
      let grad = g.gradient(ofParameter: tensor)?.toArray() ?? [Float](repeating: 0, count: tensor.count)
      out.append(try compare("gradients: " + Self.moduleGroup(name), "grad." + name, grad, cases))
    }

    if case .partition(let pgm) = network {
      let tokens = try cases.tokens("infer.x")
      let positions = try cases.tokens("infer.clean_positions", shape: tokens.shape)
      let lengths = try cases.tokens("infer.concrete_lengths", shape: [tokens.shape[0]]).values.map(Int.init)
      let queries = try cases.tokens("infer.noisy_positions")
      guard lengths.allSatisfy({ $0 >= 0 && $0 <= tokens.shape[1] }), queries.shape[0] == tokens.shape[0],
            positions.values.allSatisfy({ $0 >= 0 && Int($0) < config.length }),
            queries.values.allSatisfy({ $0 >= 0 && Int($0) < config.length }) else {
        throw CheckpointError.invalid(casesURL.path, "inference cases are inconsistent (lengths or positions out of range)")
      }
      let packed = PackedBatch(tokens: tokens, positions: positions, lengths: lengths, queryPositions: queries)
      let logits = pgm.logits(Graph(recording: false, precision: precision), packed: packed)
      out.append(try compare("inference logits", "infer.logits", logits.value.toArray(), cases))
    }

    let worst = out.map(\.relativeError).max() ?? 0
    return Report(folder: folder.path, kind: config.kind.rawValue, precision: precision, tolerance: tolerance, comparisons: out,
                  worstRelativeError: worst, passed: worst <= tolerance)
  }

  /// "encoder.blocks.0.attn_qkv.weight" → "encoder.blocks.0"; "vocab_embed.embedding" → "vocab_embed".
  static func moduleGroup(_ name: String) -> String {
    let parts = name.split(separator: ".")
    if parts.count >= 3, Int(parts[2]) != nil { return parts[0...2].joined(separator: ".") }
    if parts.count >= 2, Int(parts[1]) != nil { return parts[0...1].joined(separator: ".") }
    if parts.first == "decoder", parts.count >= 2 { return parts[0...1].joined(separator: ".") }
    return String(parts[0])
  }

  func compare(_ group: String, _ name: String, _ ours: [Float], _ cases: Cases) throws -> Comparison {
    let ref = try cases.floats(name)
    guard ref.count == ours.count else {
      throw CheckpointError.invalid(cases.file.fileName, "\(name) has \(ref.count) values, this network produced \(ours.count)")
    }
    var maxErr = 0.0, maxRef = 0.0
    for i in 0..<ref.count {
      let r = Double(ref[i]), o = Double(ours[i])
      // A NaN on either side is an infinite error (never a silent pass).
      let e = (r.isNaN || o.isNaN) ? Double.infinity : abs(o - r)
      maxErr = max(maxErr, e)
      if r.isFinite { maxRef = max(maxRef, abs(r)) }
    }
    let rel = maxRef > 0 ? maxErr / maxRef : (maxErr == 0 ? 0 : .infinity)
    return Comparison(group: group, name: name, maxAbsError: maxErr, maxAbsReference: maxRef, relativeError: rel)
  }
}

/// Typed access to a cases file, with clear errors for missing or ill-shaped entries.
struct Cases {
  let file: SafeTensorsFile
  let config: ModelConfig

  func floats(_ name: String) throws -> [Float] {
    guard file.entry(name) != nil else { throw CheckpointError.invalid(file.fileName, "missing entry '\(name)'") }
    return try file.read(name).floats()
  }

  func tokens(_ name: String, shape: [Int]? = nil) throws -> TokenTensor {
    guard let entry = file.entry(name) else { throw CheckpointError.invalid(file.fileName, "missing entry '\(name)'") }
    if let shape, entry.shape != shape {
      throw CheckpointError.invalid(file.fileName, "'\(name)' has shape \(entry.shape), expected \(shape)")
    }
    guard entry.shape.count <= 2, !entry.shape.isEmpty else {
      throw CheckpointError.invalid(file.fileName, "'\(name)' has shape \(entry.shape), expected a vector or matrix")
    }
    let values = try file.read(name).int64s()
    guard values.allSatisfy({ $0 >= Int64(Int32.min) && $0 <= Int64(Int32.max) }) else {
      throw CheckpointError.invalid(file.fileName, "'\(name)' holds values outside 32-bit range")
    }
    if name.hasSuffix("x0") || name.hasSuffix("xt") || name == "infer.x" {
      guard values.allSatisfy({ $0 >= 0 && $0 < Int64(config.vocabSize) }) else {
        throw CheckpointError.invalid(file.fileName, "'\(name)' holds tokens outside the vocabulary of \(config.vocabSize)")
      }
    }
    return TokenTensor(shape: entry.shape, values: values.map { Int32($0) })
  }
}
