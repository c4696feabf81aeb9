import Foundation
import Networks

/// Reads what a checkpoint's own configuration says about the architecture, from each layout the
/// reference ecosystem uses:
///
/// - **Hydra** (`config.model.*` in a Lightning checkpoint's `hyper_parameters`; the whole config
///   as `config.json` in the SDTT students on the Hugging Face hub; `reference_config` in folders
///   this project exports): `model.hidden_size`, `n_heads`, `cond_dim`, `length`, `mlp_ratio`,
///   `n_blocks` or `encoder.n_blocks` / `decoder.n_blocks`, `decoder.mode`, `swap.*`, `dropout`,
///   `model.type`, `algo.name`, `algo.backbone`, `time_conditioning`.
/// - **Hugging Face `MDLMConfig`** (`kuleshov-group/mdlm-owt`): `hidden_dim`, `n_heads`,
///   `cond_dim`, `model_length`, `n_blocks`, `vocab_size`, `dropout`, `time_conditioning`.
/// - **This project's `config.json`** (`ModelConfig`, identified by its `kind` field).
enum ConfigurationClaims {
  /// Claims from a Lightning checkpoint's `hyper_parameters` (`self.save_hyperparameters()` in
  /// the reference stores `config` and `vocab_size`).
  static func fromLightning(_ hyperParameters: ConfigNode, file: String) throws -> ArchitectureClaims {
    let top = ConfigReader(root: hyperParameters, file: file, label: "hyper_parameters")
    var claims = ArchitectureClaims()
    if hyperParameters["config.model"] != nil {
      claims = try fromHydra(ConfigReader(root: hyperParameters["config"]!, file: file, label: "hyper_parameters"),
                             pathPrefix: "config.")
    } else if hyperParameters["model"] != nil {
      claims = try fromHydra(top, pathPrefix: "")
    }
    claims.vocabSize.add(try top.int("vocab_size"), from: top.origin("vocab_size"))
    return claims
  }

  /// Claims from a `config.json` beside `model.safetensors`; also says which layout it was.
  static func fromConfigJSON(_ url: URL) throws -> (claims: ArchitectureClaims, layout: String) {
    let root = try ConfigNode.readJSON(url)
    let reader = ConfigReader(root: root, file: url.path, label: "config.json")
    guard case .dict(let members) = root else {
      throw ImportError.unrecognisedSource(path: url.path, reason: "config.json is \(root.summary), not an object")
    }
    if members["kind"] != nil && members["hidden_size"] != nil {
      var claims = try fromProjectConfig(url)
      if let reference = root["reference_config"], reference["model"] != nil {
        claims.add(try fromHydra(ConfigReader(root: reference, file: url.path, label: "config.json"),
                                 pathPrefix: "reference_config."))
      }
      return (claims, "this project's model config")
    }
    if root["model.hidden_size"] != nil {
      return (try fromHydra(reader, pathPrefix: ""), "a Hydra configuration (SDTT / PGM reference)")
    }
    if members["hidden_dim"] != nil || root["model_type"] == .string("mdlm") {
      return (try fromHuggingFaceMDLM(reader), "a Hugging Face MDLMConfig")
    }
    throw ImportError.unrecognisedSource(
      path: url.path,
      reason: "config.json is in no known layout (its keys: \(members.keys.sorted().prefix(20).joined(separator: ", "))); "
        + "expected this project's config (kind, hidden_size, …), a Hydra config (model.hidden_size, …) "
        + "or a Hugging Face MDLMConfig (hidden_dim, model_length, …)")
  }

  /// The Hydra layout. `reader.root` is the config root (the node holding `model`); origins are
  /// printed with `pathPrefix` so they read as the user would find them in the file.
  static func fromHydra(_ reader: ConfigReader, pathPrefix: String) throws -> ArchitectureClaims {
    var c = ArchitectureClaims()
    func origin(_ path: String) -> String { reader.origin(pathPrefix + path) }
    func int(_ path: String, into claims: inout Claims<Int>) throws {
      claims.add(try reader.int(path), from: origin(path))
    }
    func string(_ path: String, into claims: inout Claims<String>) throws {
      claims.add(try reader.string(path), from: origin(path))
    }
    c.kind.add(try reader.string("model.type").map(kind(modelType:)), from: origin("model.type"))
    c.kind.add(try reader.string("algo.name").map(kind(algorithm:)), from: origin("algo.name"))
    c.kind.add(try reader.string("algo.backbone").map(kind(backbone:)), from: origin("algo.backbone"))
    try int("model.hidden_size", into: &c.hiddenSize)
    try int("model.n_heads", into: &c.heads)
    try int("model.cond_dim", into: &c.condDim)
    try int("model.length", into: &c.length)
    try int("model.mlp_ratio", into: &c.mlpRatio)
    try int("model.n_blocks", into: &c.blocks)
    try int("model.encoder.n_blocks", into: &c.encoderBlocks)
    try int("model.decoder.n_blocks", into: &c.decoderBlocks)
    try string("model.decoder.mode", into: &c.decoderMode)
    try string("model.swap.pre_query_mode", into: &c.preQueryMode)
    try string("model.swap.query_process_mode", into: &c.queryProcessMode)
    try string("model.swap.normalize_mode", into: &c.normalizeMode)
    c.dropout.add(try reader.double("model.dropout").map(Float.init), from: origin("model.dropout"))
    c.timeConditioning.add(try reader.bool("time_conditioning"), from: origin("time_conditioning"))
    c.timeConditioning.add(try reader.bool("algo.time_conditioning"), from: origin("algo.time_conditioning"))
    try int("vocab_size", into: &c.vocabSize)
    return c
  }

  /// The Hugging Face `MDLMConfig` layout of `kuleshov-group/mdlm-owt`.
  static func fromHuggingFaceMDLM(_ reader: ConfigReader) throws -> ArchitectureClaims {
    var c = ArchitectureClaims()
    c.kind.add("mdlm", from: reader.origin(reader.root["model_type"] != nil ? "model_type" : "hidden_dim"))
    c.hiddenSize.add(try reader.int("hidden_dim"), from: reader.origin("hidden_dim"))
    c.heads.add(try reader.int("n_heads"), from: reader.origin("n_heads"))
    c.condDim.add(try reader.int("cond_dim"), from: reader.origin("cond_dim"))
    c.length.add(try reader.int("model_length"), from: reader.origin("model_length"))
    c.blocks.add(try reader.int("n_blocks"), from: reader.origin("n_blocks"))
    c.vocabSize.add(try reader.int("vocab_size"), from: reader.origin("vocab_size"))
    c.dropout.add(try reader.double("dropout").map(Float.init), from: reader.origin("dropout"))
    c.timeConditioning.add(try reader.bool("time_conditioning"), from: reader.origin("time_conditioning"))
    return c
  }

  /// This project's own `config.json`: every value is stated.
  static func fromProjectConfig(_ url: URL) throws -> ArchitectureClaims {
    let config = try ModelFolder.readConfig(url)
    guard config.kind != .ar else {
      throw ImportError.unsupported(file: url.path, reason: "kind 'ar' (this project's evaluator) has no reference counterpart to import")
    }
    guard config.maskIndex == config.vocabSize - 1 else {
      throw ImportError.unsupported(file: url.path, reason: "mask_index \(config.maskIndex) is not vocab_size − 1, "
        + "the layout every reference checkpoint uses")
    }
    let origin = { (field: String) in "\(field) in config.json" }
    var c = ArchitectureClaims()
    c.kind.add(config.kind.rawValue, from: origin("kind"))
    c.vocabSize.add(config.vocabSize, from: origin("vocab_size"))
    c.hiddenSize.add(config.hiddenSize, from: origin("hidden_size"))
    c.heads.add(config.heads, from: origin("n_heads"))
    c.condDim.add(config.condDim, from: origin("cond_dim"))
    c.length.add(config.length, from: origin("length"))
    c.mlpRatio.add(config.mlpRatio, from: origin("mlp_ratio"))
    if config.kind == .pgm {
      c.encoderBlocks.add(config.encoderBlocks, from: origin("encoder_blocks"))
      c.decoderBlocks.add(config.decoderBlocks, from: origin("decoder_blocks"))
      c.preQueryMode.add(config.preQueryMode.rawValue, from: origin("pre_query_mode"))
      c.queryProcessMode.add(config.queryProcessMode.rawValue, from: origin("query_process_mode"))
    } else {
      c.blocks.add(config.blocks, from: origin("n_blocks"))
    }
    c.dropout.add(config.dropout, from: origin("dropout"))
    c.layerNormEps.add(config.layerNormEps, from: origin("layernorm_eps"))
    c.timeConditioning.add(config.timeConditioning, from: origin("time_conditioning"))
    return c
  }

  /// `model.type` → kind; an unknown type is kept verbatim so that it shows up as a conflict.
  static func kind(modelType: String) -> String {
    switch modelType {
    case "encoder-decoder": return "pgm"
    case "ddit-orig", "ddit", "dit": return "mdlm"
    default: return "model type '\(modelType)'"
    }
  }

  static func kind(algorithm: String) -> String {
    switch algorithm {
    case "partition-mdlm": return "pgm"
    case "mdlm", "complement-mdlm": return "mdlm"
    default: return "algorithm '\(algorithm)'"
    }
  }

  static func kind(backbone: String) -> String {
    switch backbone {
    case "encoder-decoder": return "pgm"
    case "dit", "hf_dit": return "mdlm"
    default: return "backbone '\(backbone)'"
    }
  }
}
