/// Every statement about one architecture value, with where it came from. The importer collects
/// claims from the tensor shapes, the checkpoint's configuration and the command-line flags, then
/// refuses to guess when they disagree.
struct Claims<Value: Equatable & Sendable>: Sendable {
  private(set) var items: [(value: Value, origin: String)] = []

  mutating func add(_ value: Value?, from origin: String) {
    if let value { items.append((value, origin)) }
  }

  mutating func add(_ other: Claims<Value>) { items += other.items }

  /// The first claim (claims are added strongest first: flags, shapes, configuration).
  var value: Value? { items.first?.value }
  var origin: String? { items.first?.origin }
  var isEmpty: Bool { items.isEmpty }

  /// "hidden_size: 48 (vocab_embed.embedding [37, 48]) vs 64 (model.hidden_size in hyper_parameters)"
  /// when the claims disagree, nil when they agree.
  func conflict(_ field: String) -> String? {
    guard let first = items.first, items.contains(where: { $0.value != first.value }) else { return nil }
    return "\(field): " + items.map { "\($0.value) (\($0.origin))" }.joined(separator: " vs ")
  }

  /// "48 (vocab_embed.embedding [37, 48]; model.hidden_size in hyper_parameters)".
  var explained: String {
    guard let value else { return "unknown" }
    return "\(value) (" + items.map(\.origin).joined(separator: "; ") + ")"
  }
}

/// What can be said about an architecture before it is fixed: one set of claims per value.
/// Kinds and modes are kept as the strings the reference uses, so that an unknown setting (a
/// decoder mode this project lacks, say) still reaches the conflict report verbatim.
struct ArchitectureClaims: Sendable {
  var kind = Claims<String>()
  var vocabSize = Claims<Int>()
  var hiddenSize = Claims<Int>()
  var heads = Claims<Int>()
  var condDim = Claims<Int>()
  var length = Claims<Int>()
  var mlpRatio = Claims<Int>()
  var blocks = Claims<Int>()
  var encoderBlocks = Claims<Int>()
  var decoderBlocks = Claims<Int>()
  var preQueryMode = Claims<String>()
  var queryProcessMode = Claims<String>()
  var normalizeMode = Claims<String>()
  var decoderMode = Claims<String>()
  var dropout = Claims<Float>()
  var layerNormEps = Claims<Float>()
  var timeConditioning = Claims<Bool>()

  /// Appends every claim of `other` (after this one's, so this one's come first).
  mutating func add(_ other: ArchitectureClaims) {
    kind.add(other.kind); vocabSize.add(other.vocabSize); hiddenSize.add(other.hiddenSize)
    heads.add(other.heads); condDim.add(other.condDim); length.add(other.length); mlpRatio.add(other.mlpRatio)
    blocks.add(other.blocks); encoderBlocks.add(other.encoderBlocks); decoderBlocks.add(other.decoderBlocks)
    preQueryMode.add(other.preQueryMode); queryProcessMode.add(other.queryProcessMode)
    normalizeMode.add(other.normalizeMode); decoderMode.add(other.decoderMode); dropout.add(other.dropout)
    layerNormEps.add(other.layerNormEps); timeConditioning.add(other.timeConditioning)
  }

  /// Every disagreement, one line each.
  var conflicts: [String] {
    [kind.conflict("kind"), vocabSize.conflict("vocab_size"), hiddenSize.conflict("hidden_size"),
     heads.conflict("n_heads"), condDim.conflict("cond_dim"), length.conflict("length"),
     mlpRatio.conflict("mlp_ratio"), blocks.conflict("n_blocks"), encoderBlocks.conflict("encoder.n_blocks"),
     decoderBlocks.conflict("decoder.n_blocks"), preQueryMode.conflict("swap.pre_query_mode"),
     queryProcessMode.conflict("swap.query_process_mode"), normalizeMode.conflict("swap.normalize_mode"),
     decoderMode.conflict("decoder.mode"), dropout.conflict("dropout"), layerNormEps.conflict("layernorm_eps"),
     timeConditioning.conflict("time_conditioning")].compactMap { $0 }
  }
}
