import Engine
import Formats
import Foundation
import Networks
import Student
import Teacher

/// A run recipe (`runs/NAME.json`): data, networks, pretraining, distillation and evaluation.
/// Every seed of the run derives from the top-level `seed` (`--seed` replaces it, the synthetic
/// source's included). Model vocabulary and length come from the data.
public struct Recipe: Codable, Sendable {
  public var name: String
  public var seed: UInt64
  public var data: DataSpec
  public var model: ModelSpec
  public var pretrain: TrainingSettings
  /// Text recipes: the autoregressive evaluator trained on the same corpus (generative perplexity).
  public var evaluator: EvaluatorSpec?
  public var distill: DistillSpec?
  public var eval: EvalSpec

  enum CodingKeys: String, CodingKey { case name, seed, data, model, pretrain, evaluator, distill, eval }

  public init(from decoder: Decoder) throws {
    let c = try decoder.container(keyedBy: CodingKeys.self)
    name = try c.decode(String.self, forKey: .name)
    seed = try c.decodeIfPresent(UInt64.self, forKey: .seed) ?? 0
    data = try c.decode(DataSpec.self, forKey: .data)
    model = try c.decode(ModelSpec.self, forKey: .model)
    pretrain = try c.decode(TrainingSettings.self, forKey: .pretrain)
    evaluator = try c.decodeIfPresent(EvaluatorSpec.self, forKey: .evaluator)
    distill = try c.decodeIfPresent(DistillSpec.self, forKey: .distill)
    eval = try c.decodeIfPresent(EvalSpec.self, forKey: .eval) ?? EvalSpec()
  }

  /// Reads and validates a recipe file.
  public static func load(_ url: URL) throws -> Recipe {
    let data: Data
    do { data = try Data(contentsOf: url) } catch { throw RecipeError.invalid(url.path, "cannot read the file") }
    do {
      let recipe = try Recipe.decoder.decode(Recipe.self, from: data)
      try recipe.validate()
      return recipe
    } catch let e as StrictJSONError {
      throw RecipeError.invalid(url.path, e.description)
    } catch let e as RecipeError {
      throw RecipeError.invalid(url.path, e.message)
    } catch let e as TrainingError {
      throw RecipeError.invalid(url.path, e.description)
    } catch let e as DecodingError {
      throw RecipeError.invalid(url.path, describeDecoding(e))
    }
  }

  /// Strict: an unknown key is an error naming it and the nearest known key; a number of the
  /// wrong kind names the field and what it expects.
  static let decoder = StrictJSONDecoder(aliases: [
    "learning_rate": "lr", "learningrate": "lr", "warmup": "warmup_steps", "hidden": "hidden_size", "d_model": "hidden_size",
    "heads": "n_heads", "num_heads": "n_heads", "blocks": "n_blocks", "batch": "batch_size", "batchsize": "batch_size",
    "step": "steps", "num_steps": "steps", "topk": "top_k", "vocab_size": "vocab",
  ])

  public func validate() throws {
    guard !name.isEmpty, name.allSatisfy({ $0.isLetter || $0.isNumber || "-_.".contains($0) }) else {
      throw RecipeError.invalid(name, "name must be non-empty letters, digits, '-', '_' or '.'")
    }
    try pretrain.validate()
    if let evaluator { try evaluator.pretrain.validate() }
    try distill?.validate()
    try eval.validate()
  }

  /// A sub-seed for one purpose, derived from the run seed.
  public func seed(for purpose: String) -> UInt64 {
    var r = RandomStream(seed: seed).derive(purpose)
    return r.next()
  }
}

public enum DataSpec: Codable, Sendable {
  case synthetic(SyntheticSpec)
  case text(TextSpec)
  /// An existing token dataset (`pgm data …`), used in place.
  case path(String)

  enum CodingKeys: String, CodingKey { case synthetic, text, path }

  public init(from decoder: Decoder) throws {
    let c = try decoder.container(keyedBy: CodingKeys.self)
    if let s = try c.decodeIfPresent(SyntheticSpec.self, forKey: .synthetic) { self = .synthetic(s) }
    else if let t = try c.decodeIfPresent(TextSpec.self, forKey: .text) { self = .text(t) }
    else if let p = try c.decodeIfPresent(String.self, forKey: .path) { self = .path(p) }
    else { throw RecipeError.invalid("data", "needs one of 'synthetic', 'text' or 'path'") }
  }

  public func encode(to encoder: Encoder) throws {
    var c = encoder.container(keyedBy: CodingKeys.self)
    switch self {
    case .synthetic(let s): try c.encode(s, forKey: .synthetic)
    case .text(let t): try c.encode(t, forKey: .text)
    case .path(let p): try c.encode(p, forKey: .path)
    }
  }
}

/// The sparse Markov source (`pgm data synthetic`).
public struct SyntheticSpec: Codable, Sendable {
  public var vocab = 64
  public var branching = 4
  public var order = 1
  public var length = 128
  public var sequences = 16_384
  public var validation = 1_024

  enum CodingKeys: String, CodingKey { case vocab, branching, order, length, sequences, validation }

  public init(from decoder: Decoder) throws {
    let c = try decoder.container(keyedBy: CodingKeys.self)
    vocab = try c.decodeIfPresent(Int.self, forKey: .vocab) ?? vocab
    branching = try c.decodeIfPresent(Int.self, forKey: .branching) ?? branching
    order = try c.decodeIfPresent(Int.self, forKey: .order) ?? order
    length = try c.decodeIfPresent(Int.self, forKey: .length) ?? length
    sequences = try c.decodeIfPresent(Int.self, forKey: .sequences) ?? sequences
    validation = try c.decodeIfPresent(Int.self, forKey: .validation) ?? validation
  }
}

/// Text files tokenised into packed rows (`pgm data text`). Relative paths resolve against the
/// current directory.
public struct TextSpec: Codable, Sendable {
  public var corpus: [String]
  /// File names ending with any of these are left out of folders (e.g. a second edition of the
  /// same texts, which would leak between training and validation documents).
  public var exclude: [String]?
  /// "char", or a tokenizer path.
  public var tokenizer: String
  public var length: Int
  public var validationFraction: Double?
  enum CodingKeys: String, CodingKey { case corpus, exclude, tokenizer, length, validationFraction = "validation_fraction" }
}

/// The architecture part of a network config; vocabulary, mask and length come from the data.
/// Switching `kind` between "pgm" and "mdlm" is enough to train the baseline from the same recipe
/// (`n_blocks` defaults to encoder + decoder blocks).
public struct ModelSpec: Codable, Sendable {
  public var kind: ModelConfig.Kind
  public var hiddenSize: Int
  public var heads: Int
  public var condDim: Int?
  public var mlpRatio: Int?
  public var encoderBlocks: Int?
  public var decoderBlocks: Int?
  public var blocks: Int?
  public var preQueryMode: ModelConfig.PreQueryMode?
  public var queryProcessMode: ModelConfig.QueryProcessMode?
  public var dropout: Float?

  enum CodingKeys: String, CodingKey {
    case kind, hiddenSize = "hidden_size", heads = "n_heads", condDim = "cond_dim", mlpRatio = "mlp_ratio"
    case encoderBlocks = "encoder_blocks", decoderBlocks = "decoder_blocks", blocks = "n_blocks"
    case preQueryMode = "pre_query_mode", queryProcessMode = "query_process_mode", dropout
  }

  /// The full config for data of `vocabularySize` tokens (mask id = vocabularySize) and length L.
  public func config(vocabularySize: Int, length: Int) throws -> ModelConfig {
    let enc = encoderBlocks ?? 0, dec = decoderBlocks ?? 0
    let c = ModelConfig(kind: kind, vocabSize: vocabularySize + 1, maskIndex: vocabularySize, hiddenSize: hiddenSize,
                        heads: heads, condDim: condDim ?? 128, length: length, mlpRatio: mlpRatio ?? 4,
                        encoderBlocks: kind == .pgm ? enc : 0, decoderBlocks: kind == .pgm ? dec : 0,
                        blocks: kind == .pgm ? 0 : (blocks ?? (enc + dec)),
                        preQueryMode: preQueryMode ?? .learnFreqs, queryProcessMode: queryProcessMode ?? .linear,
                        dropout: dropout ?? 0.1)
    try c.validate()
    return c
  }
}

public struct EvaluatorSpec: Codable, Sendable {
  public var model: ModelSpec
  public var pretrain: TrainingSettings
}

/// Sampling evaluation: step counts, samples per row of the report, batch, and the seed shared by
/// every model so that teacher and students are compared on the same draws.
public struct EvalSpec: Codable, Sendable, Equatable {
  public var steps: [Int] = [8, 16, 32, 64, 128]
  public var samples: Int = 1024
  public var batch: Int = 64
  public var sampler: PartitionSchedule = .uniform

  public init() {}
  enum CodingKeys: String, CodingKey { case steps, samples, batch, sampler }
  public init(from decoder: Decoder) throws {
    let c = try decoder.container(keyedBy: CodingKeys.self)
    steps = try c.decodeIfPresent([Int].self, forKey: .steps) ?? steps
    samples = try c.decodeIfPresent(Int.self, forKey: .samples) ?? samples
    batch = try c.decodeIfPresent(Int.self, forKey: .batch) ?? batch
    sampler = try c.decodeIfPresent(PartitionSchedule.self, forKey: .sampler) ?? sampler
  }

  func validate() throws {
    guard !steps.isEmpty, steps.allSatisfy({ $0 >= 1 }) else { throw RecipeError.invalid("eval", "steps must be ≥ 1") }
    guard samples >= 1, batch >= 1 else { throw RecipeError.invalid("eval", "samples and batch must be ≥ 1") }
  }
}

public enum RecipeError: Error, CustomStringConvertible {
  case invalid(String, String)
  var message: String { if case .invalid(_, let m) = self { return m }; return "" }
  public var description: String {
    switch self { case .invalid(let w, let m): return "recipe \(w): \(m)" }
  }
}

func describeDecoding(_ e: DecodingError) -> String {
  switch e {
  case .keyNotFound(let k, let c):
    let path = (c.codingPath.map(\.stringValue) + [k.stringValue]).joined(separator: ".")
    return "missing field '\(path)'"
  case .typeMismatch(_, let c), .valueNotFound(_, let c), .dataCorrupted(let c):
    let path = c.codingPath.map(\.stringValue).joined(separator: ".")
    return path.isEmpty ? c.debugDescription : "field '\(path)': \(c.debugDescription)"
  @unknown default: return "\(e)"
  }
}
