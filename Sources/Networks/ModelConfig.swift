/// The hyper-parameters of a network, stored as `config.json` beside `model.safetensors`.
/// Field names follow the golden reference configs (snake_case), so a reference `config.json`
/// reads as-is; unknown fields are ignored.
public struct ModelConfig: Codable, Equatable, Sendable {
  public enum Kind: String, Codable, Sendable {
    /// The partition network (`PartitionDIT`).
    case pgm
    /// The MDLM baseline (`DIT`).
    case mdlm
    /// A causal transformer over the same blocks, used as this project's own evaluator.
    case ar
  }

  public enum PreQueryMode: String, Codable, CaseIterable, Sendable {
    case learn, learnFreqs = "learn+freqs", learnFreqsMean = "learn+freqs+mean"
    case learnFreqsLogsumexp = "learn+freqs+logsumexp"
    var usesFrequencies: Bool { self != .learn }
    var usesAggregate: Bool { self == .learnFreqsMean || self == .learnFreqsLogsumexp }
  }

  public enum QueryProcessMode: String, Codable, CaseIterable, Sendable { case linear, mlp4 }

  public var kind: Kind
  /// V: vocabulary size including the mask token.
  public var vocabSize: Int
  public var maskIndex: Int
  public var hiddenSize: Int
  public var heads: Int
  public var condDim: Int
  /// L: the sequence length the network was trained for.
  public var length: Int
  public var mlpRatio: Int
  /// Partition network: encoder and decoder blocks. MDLM / AR: `blocks`.
  public var encoderBlocks: Int
  public var decoderBlocks: Int
  public var blocks: Int
  public var preQueryMode: PreQueryMode
  public var queryProcessMode: QueryProcessMode
  public var dropout: Float
  public var layerNormEps: Float
  public var timeConditioning: Bool

  enum CodingKeys: String, CodingKey {
    case kind, vocabSize = "vocab_size", maskIndex = "mask_index", hiddenSize = "hidden_size"
    case heads = "n_heads", condDim = "cond_dim", length, mlpRatio = "mlp_ratio"
    case encoderBlocks = "encoder_blocks", decoderBlocks = "decoder_blocks", blocks = "n_blocks"
    case preQueryMode = "pre_query_mode", queryProcessMode = "query_process_mode"
    case normalizeMode = "normalize_mode", dropout, layerNormEps = "layernorm_eps"
    case timeConditioning = "time_conditioning"
  }

  public init(kind: Kind, vocabSize: Int, maskIndex: Int? = nil, hiddenSize: Int, heads: Int, condDim: Int = 128,
              length: Int, mlpRatio: Int = 4, encoderBlocks: Int = 0, decoderBlocks: Int = 0, blocks: Int = 0,
              preQueryMode: PreQueryMode = .learnFreqs, queryProcessMode: QueryProcessMode = .linear,
              dropout: Float = 0.1, layerNormEps: Float = 1e-5, timeConditioning: Bool = false) {
    self.kind = kind
    self.vocabSize = vocabSize
    self.maskIndex = maskIndex ?? vocabSize - 1
    self.hiddenSize = hiddenSize
    self.heads = heads
    self.condDim = condDim
    self.length = length
    self.mlpRatio = mlpRatio
    self.encoderBlocks = encoderBlocks
    self.decoderBlocks = decoderBlocks
    self.blocks = blocks
    self.preQueryMode = preQueryMode
    self.queryProcessMode = queryProcessMode
    self.dropout = dropout
    self.layerNormEps = layerNormEps
    self.timeConditioning = timeConditioning
  }

  public init(from decoder: Decoder) throws {
    let c = try decoder.container(keyedBy: CodingKeys.self)
    kind = try c.decode(Kind.self, forKey: .kind)
    vocabSize = try c.decode(Int.self, forKey: .vocabSize)
    maskIndex = try c.decodeIfPresent(Int.self, forKey: .maskIndex) ?? vocabSize - 1
    hiddenSize = try c.decode(Int.self, forKey: .hiddenSize)
    heads = try c.decode(Int.self, forKey: .heads)
    condDim = try c.decodeIfPresent(Int.self, forKey: .condDim) ?? 128
    length = try c.decode(Int.self, forKey: .length)
    mlpRatio = try c.decodeIfPresent(Int.self, forKey: .mlpRatio) ?? 4
    encoderBlocks = try c.decodeIfPresent(Int.self, forKey: .encoderBlocks) ?? 0
    decoderBlocks = try c.decodeIfPresent(Int.self, forKey: .decoderBlocks) ?? 0
    blocks = try c.decodeIfPresent(Int.self, forKey: .blocks) ?? 0
    preQueryMode = try c.decodeIfPresent(PreQueryMode.self, forKey: .preQueryMode) ?? .learnFreqs
    queryProcessMode = try c.decodeIfPresent(QueryProcessMode.self, forKey: .queryProcessMode) ?? .linear
    if let norm = try c.decodeIfPresent(String.self, forKey: .normalizeMode), norm != "layernorm" {
      throw ConfigError.invalid("normalize_mode '\(norm)' is not supported (only 'layernorm', the published default)")
    }
    dropout = try c.decodeIfPresent(Float.self, forKey: .dropout) ?? 0.1
    layerNormEps = try c.decodeIfPresent(Float.self, forKey: .layerNormEps) ?? 1e-5
    timeConditioning = try c.decodeIfPresent(Bool.self, forKey: .timeConditioning) ?? false
    try validate()
  }

  public func encode(to encoder: Encoder) throws {
    var c = encoder.container(keyedBy: CodingKeys.self)
    try c.encode(kind, forKey: .kind)
    try c.encode(vocabSize, forKey: .vocabSize)
    try c.encode(maskIndex, forKey: .maskIndex)
    try c.encode(hiddenSize, forKey: .hiddenSize)
    try c.encode(heads, forKey: .heads)
    try c.encode(condDim, forKey: .condDim)
    try c.encode(length, forKey: .length)
    try c.encode(mlpRatio, forKey: .mlpRatio)
    if kind == .pgm {
      try c.encode(encoderBlocks, forKey: .encoderBlocks)
      try c.encode(decoderBlocks, forKey: .decoderBlocks)
      try c.encode(preQueryMode, forKey: .preQueryMode)
      try c.encode(queryProcessMode, forKey: .queryProcessMode)
      try c.encode("layernorm", forKey: .normalizeMode)
    } else {
      try c.encode(blocks, forKey: .blocks)
    }
    try c.encode(dropout, forKey: .dropout)
    try c.encode(layerNormEps, forKey: .layerNormEps)
    try c.encode(timeConditioning, forKey: .timeConditioning)
  }

  /// Checks that the numbers describe a buildable network.
  public func validate() throws {
    func require(_ ok: Bool, _ message: String) throws { if !ok { throw ConfigError.invalid(message) } }
    try require(vocabSize >= 2, "vocab_size must be at least 2 (got \(vocabSize))")
    try require(maskIndex >= 0 && maskIndex < vocabSize, "mask_index \(maskIndex) outside the vocabulary of \(vocabSize)")
    try require(hiddenSize > 0 && heads > 0 && hiddenSize % heads == 0,
                "hidden_size \(hiddenSize) must be a positive multiple of n_heads \(heads)")
    try require((hiddenSize / heads) % 2 == 0, "the head size \(hiddenSize / heads) must be even (rotary embedding)")
    try require(hiddenSize % 2 == 0, "hidden_size must be even (sinusoidal features)")
    try require(condDim > 0 && mlpRatio > 0 && length > 0, "cond_dim, mlp_ratio and length must be positive")
    try require(dropout >= 0 && dropout < 1, "dropout must be in [0, 1)")
    try require(!timeConditioning, "time-conditioned networks are not supported (the published text models are not)")
    switch kind {
    case .pgm: try require(encoderBlocks > 0 && decoderBlocks > 0, "a partition network needs encoder and decoder blocks")
    case .mdlm, .ar: try require(blocks > 0, "n_blocks must be positive")
    }
  }

  public var headDim: Int { hiddenSize / heads }
}

public enum ConfigError: Error, CustomStringConvertible {
  case invalid(String)
  public var description: String {
    switch self { case .invalid(let m): return "invalid model config: \(m)" }
  }
}
