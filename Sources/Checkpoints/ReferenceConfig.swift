import Foundation
import Networks

/// `config.json` of an exported folder: the reference's Hydra configuration, nested as its
/// `configs/` yaml files are, with everything its network, loss and sampler read:
///
/// - `model` (`configs/model/*.yaml`): sizes, blocks, `swap`, `decoder.mode`; what
///   `PartitionDIT(config, vocab_size)` and `DIT(config, vocab_size)` read.
/// - `algo` (`configs/algo/*.yaml`, PGM `text_pretrain` branch): name, backbone,
///   parameterization `subs`, `T` = 0 (continuous time), loss type, `sampling_mode`,
///   `post_process_mode`, masking switches.
/// - `noise`: log-linear with ε = 1e-3 (the reference hard-codes that ε whatever its yaml says).
/// - `sampling`: the predictor, the step count the model was distilled for, `inject_bos`, and
///   `eps` = 1e-5, the last time of the grid `linspace(1, eps, S+1)` (an argument of the
///   reference's samplers, recorded here).
/// - `training.sampling_eps`: the training time floor (1e-3 pretraining, 1e-5 SDTT).
/// - `parameterization` (SDTT students only, the `text_distill_sdtt` branch's section):
///   `distill_mode`, `num_distill_steps`, `orig_num_sampling_steps`, ….
/// - `data` and `tokenizer` (the SDTT branch has a top-level `tokenizer` section): the
///   vocabulary without the mask, BOS/EOS/mask ids, the tokenizer files.
/// - top level: `vocab_size` (V, mask included), `T`, `time_conditioning`, `neg_infinity_mode`,
///   and `parameter_order` (the reference's registration order, which maps its bare EMA list).
///
/// `OmegaConf.create(json.load(f))` gives the config the reference's constructors take;
/// `ModelFolder.readConfig` reads this project's `ModelConfig` back from `model`, `algo` and
/// `vocab_size` (`modelConfig(from:file:)`), and `pgm import` reads it as any Hydra config.
struct ReferenceConfig: Encodable {
  struct Blocks: Encodable {
    var nBlocks: Int
    var mode: String?
    var selfAttnFirst: Bool?
    enum CodingKeys: String, CodingKey { case nBlocks = "n_blocks", mode, selfAttnFirst = "self_attn_first" }
  }

  struct Swap: Encodable {
    var preQueryMode: String
    var queryProcessMode: String
    var normalizeMode = "layernorm"
    enum CodingKeys: String, CodingKey {
      case preQueryMode = "pre_query_mode", queryProcessMode = "query_process_mode", normalizeMode = "normalize_mode"
    }
  }

  struct Model: Encodable {
    var type: String
    var hiddenSize: Int
    var condDim: Int
    var length: Int
    var nHeads: Int
    var mlpRatio: Int
    var dropout: Float
    var scaleBySigma = true
    var tieWordEmbeddings = false
    var nBlocks: Int?
    var encoder: Blocks?
    var decoder: Blocks?
    var swap: Swap?
    enum CodingKeys: String, CodingKey {
      case type, hiddenSize = "hidden_size", condDim = "cond_dim", length, nHeads = "n_heads", mlpRatio = "mlp_ratio"
      case dropout, scaleBySigma = "scale_by_sigma", tieWordEmbeddings = "tie_word_embeddings", nBlocks = "n_blocks"
      case encoder, decoder, swap
    }
  }

  struct Algo: Encodable {
    var name: String
    var backbone: String
    var parameterization = "subs"
    var timeConditioning = false
    var T = 0
    var subsMasking = false
    var causalAttention = false
    var ignoreBos = false
    var lossType = "elbo"
    var samplingMode: String?
    var postProcessMode: String
    enum CodingKeys: String, CodingKey {
      case name, backbone, parameterization, timeConditioning = "time_conditioning", T, subsMasking = "subs_masking"
      case causalAttention = "causal_attention", ignoreBos = "ignore_bos", lossType = "loss_type"
      case samplingMode = "sampling_mode", postProcessMode = "post_process_mode"
    }
  }

  struct Noise: Encodable {
    var type = "log-linear"
    var parameterization = "log-linear"
    var eps = 1e-3
  }

  struct Sampling: Encodable {
    var predictor = "ddpm_cache"
    var steps: Int
    var noiseRemoval = "ancestral"
    var useFloat64 = true
    var pNucleus = 1.0
    var injectBos = true
    var eps = 1e-5
    enum CodingKeys: String, CodingKey {
      case predictor, steps, noiseRemoval = "noise_removal", useFloat64 = "use_float64", pNucleus = "p_nucleus"
      case injectBos = "inject_bos", eps
    }
  }

  struct Training: Encodable {
    var samplingEps: Double
    var antitheticSampling = true
    enum CodingKeys: String, CodingKey { case samplingEps = "sampling_eps", antitheticSampling = "antithetic_sampling" }
  }

  struct DataSection: Encodable {
    var kind: String?
    var path: String?
    var tokenizerNameOrPath: String?
    var wrap: Bool
    var insertTrainEos: Bool
    var insertValidEos: Bool
    enum CodingKeys: String, CodingKey {
      case kind, path, tokenizerNameOrPath = "tokenizer_name_or_path", wrap, insertTrainEos = "insert_train_eos"
      case insertValidEos = "insert_valid_eos"
    }

    func encode(to encoder: Encoder) throws {
      var c = encoder.container(keyedBy: CodingKeys.self)
      try c.encode(kind, forKey: .kind)
      try c.encode(path, forKey: .path)
      try c.encode(tokenizerNameOrPath, forKey: .tokenizerNameOrPath)
      try c.encode(wrap, forKey: .wrap)
      try c.encode(insertTrainEos, forKey: .insertTrainEos)
      try c.encode(insertValidEos, forKey: .insertValidEos)
    }
  }

  /// The ids a sampler needs. `vocab_size` is the tokenizer's (without the mask), as the
  /// reference's `tokenizer.vocab_size`: its `AbsorbingState` appends the mask at that id when
  /// the tokenizer has no mask token, so `mask_token_id = vocab_size = V − 1`.
  struct TokenizerSection: Encodable {
    var name: String?
    var vocabSize: Int
    var bosTokenId: Int32
    var bosTokenIdSource: String
    var eosTokenId: Int32?
    var maskTokenId: Int
    var files: [String]
    var convention = "the tokenizer has no mask token: the mask is appended after its vocabulary (mask_token_id = vocab_size = "
      + "the network's V - 1), as the reference does when tokenizer.mask_token is None; position 0 of every sequence holds "
      + "bos_token_id and is never sampled"
    enum CodingKeys: String, CodingKey {
      case name, vocabSize = "vocab_size", bosTokenId = "bos_token_id", bosTokenIdSource = "bos_token_id_source"
      case eosTokenId = "eos_token_id", maskTokenId = "mask_token_id", files, convention
    }

    func encode(to encoder: Encoder) throws {
      var c = encoder.container(keyedBy: CodingKeys.self)
      try c.encode(name, forKey: .name)
      try c.encode(vocabSize, forKey: .vocabSize)
      try c.encode(bosTokenId, forKey: .bosTokenId)
      try c.encode(bosTokenIdSource, forKey: .bosTokenIdSource)
      try c.encode(eosTokenId, forKey: .eosTokenId)  // null when the data has no EOS
      try c.encode(maskTokenId, forKey: .maskTokenId)
      try c.encode(files, forKey: .files)
      try c.encode(convention, forKey: .convention)
    }
  }

  /// The SDTT branch's `parameterization` section, plus this project's own facts.
  struct Distillation: Encodable {
    var name: String
    var distillMode: String
    var numDistillSteps: Int
    var origNumSamplingSteps: Int
    var minNumSamplingSteps: Int
    var growDtEvery: Int
    var useEmaOnGrowth: Bool
    var resetOptimizerOnGrowth = false
    var samplingMode = "ancestral"
    var rounds: Int
    var studentSamplingSteps: Int
    var teacherTimeSpacing: String
    var normalizedTargets: Bool
    var exportedWeights: String
    enum CodingKeys: String, CodingKey {
      case name, distillMode = "distill_mode", numDistillSteps = "num_distill_steps"
      case origNumSamplingSteps = "orig_num_sampling_steps", minNumSamplingSteps = "min_num_sampling_steps"
      case growDtEvery = "grow_dt_every", useEmaOnGrowth = "use_ema_on_growth"
      case resetOptimizerOnGrowth = "reset_optimizer_on_growth", samplingMode = "sampling_mode", rounds
      case studentSamplingSteps = "student_sampling_steps", teacherTimeSpacing = "teacher_time_spacing"
      case normalizedTargets = "normalized_targets", exportedWeights = "exported_weights"
    }
  }

  var model: Model
  var algo: Algo
  var noise = Noise()
  var sampling: Sampling
  var training: Training
  var data: DataSection
  var tokenizer: TokenizerSection
  var parameterization: Distillation?
  var vocabSize: Int
  var T = 0
  var timeConditioning = false
  var negInfinityMode: String
  var parameterOrder: [String]

  enum CodingKeys: String, CodingKey {
    case model, algo, noise, sampling, training, data, tokenizer, parameterization, vocabSize = "vocab_size", T
    case timeConditioning = "time_conditioning", negInfinityMode = "neg_infinity_mode", parameterOrder = "parameter_order"
  }

  /// Throws `ExportError.notExportable` for networks the reference cannot build with these weights.
  static func check(_ config: ModelConfig) throws {
    _ = try model(config)
  }

  /// The `model` and `algo` sections (the part the backbone constructors read).
  static func model(_ config: ModelConfig) throws -> (Model, Algo) {
    func refuse(_ why: String) -> ExportError { .notExportable(kind: config.kind.rawValue, reason: why) }
    guard config.layerNormEps == 1e-5 else {
      throw refuse("the reference's LayerNorm uses eps 1e-5, this network \(config.layerNormEps)")
    }
    guard config.maskIndex == config.vocabSize - 1 else {
      throw refuse("the reference puts the mask token at vocab_size − 1 = \(config.vocabSize - 1), this network at \(config.maskIndex)")
    }
    guard !config.timeConditioning else { throw refuse("time conditioning is not supported") }
    var model = Model(type: "", hiddenSize: config.hiddenSize, condDim: config.condDim, length: config.length,
                      nHeads: config.heads, mlpRatio: config.mlpRatio, dropout: config.dropout)
    switch config.kind {
    case .pgm:
      model.type = "encoder-decoder"
      model.encoder = Blocks(nBlocks: config.encoderBlocks)
      model.decoder = Blocks(nBlocks: config.decoderBlocks, mode: "cross-only", selfAttnFirst: false)
      model.swap = Swap(preQueryMode: config.preQueryMode.rawValue, queryProcessMode: config.queryProcessMode.rawValue)
      return (model, Algo(name: "partition-mdlm", backbone: "encoder-decoder", samplingMode: "efficient-uniform",
                          postProcessMode: "efficient"))
    case .mdlm:
      guard config.mlpRatio == 4 else {
        throw refuse("its MLP ratio is \(config.mlpRatio), but the reference's MDLM network (`DIT` in models/dit.py, and "
          + "`DIT` in models/dit_orig.py of the SDTT branch) builds every block with the ratio fixed at 4 and ignores "
          + "model.mlp_ratio, so blocks.N.mlp.0.weight [\(config.mlpRatio * config.hiddenSize), \(config.hiddenSize)] "
          + "cannot load into its [\(4 * config.hiddenSize), \(config.hiddenSize)]; train the MDLM with mlp_ratio 4 "
          + "(the partition network reads mlp_ratio and exports with any ratio)")
      }
      model.type = "ddit-orig"
      model.nBlocks = config.blocks
      return (model, Algo(name: "mdlm", backbone: "dit", postProcessMode: "orig"))
    case .ar:
      throw refuse("this project's autoregressive evaluator has adaLN parameters, the reference's causal network "
        + "(DDiTBlockCausal) has none")
    }
  }

  init(_ config: ModelConfig, context: ExportContext, parameterOrder: [String], tokenizerFiles: [String]) throws {
    (model, algo) = try Self.model(config)
    if config.kind == .pgm, context.sampling.nonUniform { algo.samplingMode = "efficient-non-uniform" }
    // The reference's efficient-uniform sampler needs L % steps == 0; without a recorded step count,
    // one token per step (the reference's default of 1024 steps is its L).
    sampling = Sampling(steps: context.sampling.steps ?? config.length)
    if config.kind == .mdlm { sampling.predictor = "ddpm_cache" }
    training = Training(samplingEps: context.trainingTimeEpsilon)
    let tokens = context.resolvedTokens(config)
    let text = context.data?.kind == "text"
    // "." (the export folder) when transformers.AutoTokenizer can load it: tokenizer.json with the
    // tokenizer_config.json the export writes beside it. Otherwise none the reference can load.
    let loadable = (tokenizerFiles + context.extraFiles.map(\.name)).contains(ModelFolder.huggingFaceTokenizerConfig)
      && tokenizerFiles.contains("tokenizer.json")
    data = DataSection(kind: context.data?.kind, path: context.data?.path, tokenizerNameOrPath: loadable ? "." : nil,
                       wrap: text, insertTrainEos: text, insertValidEos: text)
    tokenizer = TokenizerSection(name: tokens.tokenizer, vocabSize: config.vocabSize - 1, bosTokenId: tokens.bosId,
                                 bosTokenIdSource: tokens.bosSource, eosTokenId: tokens.eosId, maskTokenId: config.maskIndex,
                                 files: tokenizerFiles)
    if let d = context.distillation {
      parameterization = Distillation(
        name: config.kind == .pgm ? "partition-sdtt" : "multi-round-sdtt", distillMode: d.divergence,
        numDistillSteps: d.teacherStepsPerStudentStep, origNumSamplingSteps: d.teacherSteps,
        minNumSamplingSteps: d.studentSteps, growDtEvery: d.optimizerStepsPerRound, useEmaOnGrowth: d.emaTeacherOnGrowth,
        rounds: d.rounds, studentSamplingSteps: d.studentSteps, teacherTimeSpacing: d.spacing,
        normalizedTargets: d.normalizedTargets, exportedWeights: d.weights)
    }
    vocabSize = config.vocabSize
    // The published PGM runs set the mask logit to −∞ (SPEC §4); MDLM adds −1e6.
    negInfinityMode = config.kind == .pgm ? "true-inf" : "large-finite"
    self.parameterOrder = parameterOrder
  }

  // MARK: Reading back

  /// This project's `ModelConfig` from a Hydra configuration with `model`, `algo` (or
  /// `model.type`) and a top-level `vocab_size`: the inverse of the `model` and `algo` sections.
  static func modelConfig(from root: ConfigNode, file: String) throws -> ModelConfig {
    let r = ConfigReader(root: root, file: file, label: "config.json")
    func bad(_ why: String) -> CheckpointError { .invalid(file, why) }
    guard let vocabSize = try r.int("vocab_size") else {
      throw bad("a Hydra configuration without a top-level vocab_size (the network's vocabulary, mask included); "
        + "import the folder with `pgm import`, which infers it from the weights")
    }
    let kinds = [try r.string("algo.name").map { ConfigurationClaims.kind(algorithm: $0) },
                 try r.string("algo.backbone").map { ConfigurationClaims.kind(backbone: $0) },
                 try r.string("model.type").map { ConfigurationClaims.kind(modelType: $0) }].compactMap { $0 }
    guard let kindName = kinds.first, kinds.allSatisfy({ $0 == kindName }), let kind = ModelConfig.Kind(rawValue: kindName),
          kind != .ar else {
      throw bad("cannot tell the network from algo.name, algo.backbone and model.type (\(kinds.joined(separator: ", ")))")
    }
    func required(_ path: String) throws -> Int {
      guard let v = try r.int(path) else { throw bad("missing \(path)") }
      return v
    }
    if let norm = try r.string("model.swap.normalize_mode"), norm != "layernorm" {
      throw bad("model.swap.normalize_mode '\(norm)' is not supported (only 'layernorm')")
    }
    if let mode = try r.string("model.decoder.mode"), mode != "cross-only" {
      throw bad("model.decoder.mode '\(mode)' is not supported (only 'cross-only', the published default)")
    }
    let timeConditioning = try r.bool("algo.time_conditioning") ?? r.bool("time_conditioning") ?? false
    var config = ModelConfig(kind: kind, vocabSize: vocabSize, maskIndex: try r.int("tokenizer.mask_token_id"),
                             hiddenSize: try required("model.hidden_size"), heads: try required("model.n_heads"),
                             condDim: try required("model.cond_dim"), length: try required("model.length"),
                             mlpRatio: try r.int("model.mlp_ratio") ?? 4,
                             dropout: Float(try r.double("model.dropout") ?? 0.1), timeConditioning: timeConditioning)
    if kind == .pgm {
      config.encoderBlocks = try required("model.encoder.n_blocks")
      config.decoderBlocks = try required("model.decoder.n_blocks")
      func mode<M: RawRepresentable>(_ path: String, _ type: M.Type) throws -> M? where M.RawValue == String {
        guard let s = try r.string(path) else { return nil }
        guard let m = M(rawValue: s) else { throw bad("\(path) '\(s)' is not supported") }
        return m
      }
      config.preQueryMode = try mode("model.swap.pre_query_mode", ModelConfig.PreQueryMode.self) ?? .learnFreqs
      config.queryProcessMode = try mode("model.swap.query_process_mode", ModelConfig.QueryProcessMode.self) ?? .linear
    } else {
      config.blocks = try required("model.n_blocks")
    }
    do { try config.validate() } catch let e as ConfigError { throw bad(e.description) }
    return config
  }

  /// Whether a parsed `config.json` is in this layout (rather than this project's flat one).
  static func isHydra(_ root: ConfigNode) -> Bool {
    root["kind"] == nil && root["model.hidden_size"] != nil
  }
}

/// What an exported `config.json` says beyond the network, read back (re-exporting an export
/// keeps its ids; `pgm eval` and `pgm sample` take the BOS from it).
public struct ExportedFacts: Sendable, Equatable {
  public var tokens: ExportContext.Tokens
  public var data: ExportContext.DataFacts?
  public var sampling: ExportContext.SamplingFacts
  public var distillation: ExportContext.DistillationFacts?

  /// nil when the file is not an exported config (this project's flat layout has none of this).
  public static func read(_ url: URL) throws -> ExportedFacts? {
    let root = try ConfigNode.readJSON(url)
    guard ReferenceConfig.isHydra(root), let bos = try? ConfigReader(root: root, file: url.path, label: "config.json").int("tokenizer.bos_token_id") else {
      return nil
    }
    let r = ConfigReader(root: root, file: url.path, label: "config.json")
    let tokens = ExportContext.Tokens(bosId: Int32(bos), bosSource: try r.string("tokenizer.bos_token_id_source") ?? "config.json",
                                      eosId: try r.int("tokenizer.eos_token_id").map(Int32.init),
                                      tokenizer: try r.string("tokenizer.name"))
    let data = try r.string("data.kind").map { ExportContext.DataFacts(kind: $0, path: try r.string("data.path")) }
    let sampling = ExportContext.SamplingFacts(steps: try r.int("sampling.steps"),
                                               nonUniform: try r.string("algo.sampling_mode") == "efficient-non-uniform")
    var distillation: ExportContext.DistillationFacts?
    if root["parameterization.distill_mode"] != nil {
      distillation = ExportContext.DistillationFacts(
        rounds: try r.int("parameterization.rounds") ?? 0,
        teacherSteps: try r.int("parameterization.orig_num_sampling_steps") ?? 0,
        teacherStepsPerStudentStep: try r.int("parameterization.num_distill_steps") ?? 2,
        studentSteps: try r.int("parameterization.student_sampling_steps") ?? 0,
        divergence: try r.string("parameterization.distill_mode") ?? "kl-bwd",
        spacing: try r.string("parameterization.teacher_time_spacing") ?? "even",
        normalizedTargets: try r.bool("parameterization.normalized_targets") ?? true,
        optimizerStepsPerRound: try r.int("parameterization.grow_dt_every") ?? 0,
        emaTeacherOnGrowth: try r.bool("parameterization.use_ema_on_growth") ?? false,
        weights: try r.string("parameterization.exported_weights") ?? "ema")
    }
    return ExportedFacts(tokens: tokens, data: data, sampling: sampling, distillation: distillation)
  }
}

/// Why a network cannot be exported for the reference code.
public enum ExportError: Error, CustomStringConvertible {
  case notExportable(kind: String, reason: String)

  public var description: String {
    switch self {
    case let .notExportable(kind, reason):
      let what = ["pgm": "this partition network", "mdlm": "this MDLM", "ar": "this autoregressive network"][kind] ?? "this network"
      return "cannot export \(what) for the PyTorch reference code: \(reason)"
    }
  }
}
