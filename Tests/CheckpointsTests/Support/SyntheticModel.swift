import TestSupport
import Foundation
@testable import Checkpoints
import Formats
import Networks

/// A network of any configuration with random weights, written in the layouts the reference
/// ecosystem uses: a Lightning checkpoint (raw and EMA weights, hyper-parameters) or a Hugging
/// Face style folder. The importer has never seen these sizes; what it writes must equal `raw`
/// (or `ema`) exactly.
struct SyntheticModel {
  let config: ModelConfig
  /// Names and shapes in registration order (from this project's network, whose names the golden
  /// tests tie to the reference).
  let parameters: [(name: String, shape: [Int])]
  var raw: [TensorSpec]
  var ema: [TensorSpec]

  init(config: ModelConfig, seed: UInt64, rawDTypes: [String: DType] = [:]) throws {
    self.config = config
    parameters = try Network(config).parameters.shapes
    var rng = SeededGenerator(seed: seed)
    raw = parameters.map { name, shape in
      TensorSpec(shape: shape, values: rng.floats(shape.reduce(1, *)), dtype: rawDTypes[name] ?? .f32)
    }
    ema = parameters.map { _, shape in TensorSpec(shape: shape, values: rng.floats(shape.reduce(1, *))) }
  }

  var names: [String] { parameters.map(\.name) }

  /// `rotary_emb.inv_freq` as the reference computes it (float32).
  var rotary: TensorSpec {
    let dh = config.headDim
    return TensorSpec(shape: [dh / 2], values: (0..<(dh / 2)).map { 1 / powf(10000, Float(2 * $0) / Float(dh)) })
  }

  /// The checkpoint the reference's Lightning module would save.
  func lightning(prefix: String = "backbone.", hyperParameters: PyValue?, includeRotary: Bool = true) -> LightningFixture {
    var state = zip(names, raw).map { (name: prefix + $0, tensor: $1) }
    if includeRotary { state.append((prefix + ParameterNaming.rotaryBuffer, rotary)) }
    return LightningFixture(stateDict: state, ema: ema, hyperParameters: hyperParameters)
  }

  /// `hyper_parameters` as `save_hyperparameters()` stores them, with the full Hydra `model:`
  /// section (or only the keys in `only`).
  func hyperParameters(only: Set<String>? = nil) -> PyValue {
    let c = config
    var model: [(String, PyValue)] = [
      ("name", .string("small")), ("hidden_size", .int(c.hiddenSize)), ("cond_dim", .int(c.condDim)),
      ("length", .int(c.length)), ("n_heads", .int(c.heads)), ("mlp_ratio", .int(c.mlpRatio)),
      ("scale_by_sigma", .bool(true)), ("dropout", .float(Double(c.dropout))), ("tie_word_embeddings", .bool(false)),
    ]
    if c.kind == .pgm {
      model.insert(("type", .string("encoder-decoder")), at: 1)
      model += [
        ("encoder", .omegaConf([("n_blocks", .int(c.encoderBlocks))])),
        ("swap", .omegaConf([("pre_query_mode", .string(c.preQueryMode.rawValue)),
                             ("query_process_mode", .string(c.queryProcessMode.rawValue)),
                             ("normalize_mode", .string("layernorm"))])),
        ("decoder", .omegaConf([("n_blocks", .int(c.decoderBlocks)), ("mode", .string("cross-only"))])),
      ]
    } else {
      model.insert(("type", .string("ddit")), at: 1)
      model.append(("n_blocks", .int(c.blocks)))
    }
    if let only { model = model.filter { only.contains($0.0) } }
    let algo: [(String, PyValue)] = [("name", .string(c.kind == .pgm ? "partition-mdlm" : "mdlm")),
                                     ("backbone", .string(c.kind == .pgm ? "encoder-decoder" : "dit")),
                                     ("time_conditioning", .bool(false)), ("causal_attention", .bool(false))]
    let config: PyValue = .omegaConf([("model", .omegaConf(model)), ("algo", .omegaConf(algo)),
                                      ("optim", .omegaConf([("lr", .float(3e-4))]))])
    return .dict([("config", config), ("tokenizer", .object(module: "transformers.models.gpt2", name: "GPT2TokenizerFast", state: [])),
                  ("vocab_size", .int(c.vocabSize))])
  }

  /// The raw weights as a safetensors image under `prefix`, with the rotary buffer.
  func safetensors(prefix: String, includeRotary: Bool = true) throws -> [UInt8] {
    var tensors = try zip(names, raw).map { (name: prefix + $0, tensor: try $1.data()) }
    if includeRotary { tensors.append((prefix + ParameterNaming.rotaryBuffer, try rotary.data())) }
    return try SafeTensors.encode(tensors)
  }

  /// What an import of `weights` must write: name → float32 bytes.
  func expected(_ which: WeightChoice) throws -> [String: [UInt8]] {
    let specs = which == .ema ? ema : raw
    var out: [String: [UInt8]] = [:]
    for (name, spec) in zip(names, specs) { out[name] = try TensorData(floats: try spec.expectedFloats(), shape: spec.shape).bytes }
    return out
  }
}

/// Every tensor of a safetensors file: name → (dtype, shape, bytes).
func tensors(of url: URL) throws -> [String: TensorData] {
  let file = try SafeTensorsFile(url: url)
  return try Dictionary(uniqueKeysWithValues: file.readAll().map { ($0.name, $0.tensor) })
}
