import Networks

/// Values the tensor names and shapes cannot determine, given on the command line. A flag never
/// silently wins over a configuration that says otherwise: a disagreement is an error.
public struct ArchitectureOverrides: Sendable, Equatable {
  public var heads: Int?
  public var length: Int?
  public var preQueryMode: ModelConfig.PreQueryMode?

  public init(heads: Int? = nil, length: Int? = nil, preQueryMode: ModelConfig.PreQueryMode? = nil) {
    self.heads = heads
    self.length = length
    self.preQueryMode = preQueryMode
  }
}

/// A network configuration worked out from a checkpoint, and for each value where it came from.
struct InferredArchitecture: Sendable {
  let config: ModelConfig
  /// (field, "value (origin; origin …)"), in a fixed order, for the import summary.
  let evidence: [(field: String, explained: String)]
}

/// Works out the architecture from tensor names and shapes, cross-checked with the checkpoint's
/// configuration and the flags.
///
/// From shapes: the kind (`encoder.*`/`decoder.*` → partition network, `blocks.*` → MDLM), V and D
/// (`vocab_embed.embedding` [V, D]), C (`sigma_map.mlp.0.weight` [C, 256]), the block counts, the
/// MLP ratio, the query processor (`query_processor.weight` → linear, `query_processor.0.weight`
/// → mlp4), and the head count when the file holds `rotary_emb.inv_freq` ([D/h/2]). Never from
/// shapes: the sequence length, the pre-query mode (all four modes have the same parameters), and
/// the head count without the rotary buffer; those come from the configuration or a flag.
enum ArchitectureInference {
  static func infer(shapes: [(name: String, shape: [Int])], configuration: ArchitectureClaims,
                    overrides: ArchitectureOverrides, file: String) throws -> InferredArchitecture {
    var claims = ArchitectureClaims()
    claims.heads.add(overrides.heads, from: "--heads")
    claims.length.add(overrides.length, from: "--length")
    claims.preQueryMode.add(overrides.preQueryMode?.rawValue, from: "--pre-query-mode")
    claims.add(try claimsFromShapes(shapes, file: file))
    claims.add(configuration)
    let kind = claims.kind.value ?? ""

    // Only the values that matter for this kind are compared (a PGM config has no n_blocks).
    var relevant = claims
    if kind == "pgm" { relevant.blocks = Claims() } else {
      relevant.encoderBlocks = Claims(); relevant.decoderBlocks = Claims()
      relevant.preQueryMode = Claims(); relevant.queryProcessMode = Claims()
      relevant.normalizeMode = Claims(); relevant.decoderMode = Claims()
    }
    let conflicts = relevant.conflicts
    if !conflicts.isEmpty { throw ImportError.inconsistent(file: file, conflicts: conflicts) }

    func required<T>(_ claims: Claims<T>, _ what: String) throws -> T {
      guard let value = claims.value else {
        throw ImportError.unrecognisedArchitecture(file: file, reason: "cannot determine \(what) from the tensor shapes")
      }
      return value
    }
    let vocabSize = try required(claims.vocabSize, "the vocabulary size")
    let hiddenSize = try required(claims.hiddenSize, "the hidden size")
    let condDim = try required(claims.condDim, "the conditioning size")
    let mlpRatio = try required(claims.mlpRatio, "the MLP ratio")
    guard let heads = claims.heads.value else {
      throw ImportError.needsFlag(file: file, what: "the number of attention heads", flag: "--heads N",
                                  why: "no parameter shape depends on it, the file has no rotary_emb.inv_freq buffer "
                                    + "and its configuration does not state n_heads")
    }
    guard let length = claims.length.value else {
      throw ImportError.needsFlag(file: file, what: "the sequence length L", flag: "--length L",
                                  why: "no parameter depends on it and the file's configuration does not state it "
                                    + "(model.length / model_length)")
    }
    if claims.timeConditioning.value == true {
      throw ImportError.unsupported(file: file, reason: "the network is time-conditioned (\(claims.timeConditioning.origin!)); "
        + "this project implements the published text models, which are not")
    }
    let dropout = claims.dropout.value ?? 0.1
    let layerNormEps = claims.layerNormEps.value ?? 1e-5

    var config: ModelConfig
    switch kind {
    case "pgm":
      if let mode = claims.normalizeMode.value, mode != "layernorm" {
        throw ImportError.unsupported(file: file, reason: "GroupSwap normalize_mode '\(mode)' (\(claims.normalizeMode.origin!)) "
          + "is not supported; only 'layernorm', the published setting")
      }
      if let mode = claims.decoderMode.value, mode != "cross-only" {
        throw ImportError.unsupported(file: file, reason: "decoder mode '\(mode)' (\(claims.decoderMode.origin!)) is not "
          + "supported; only 'cross-only', the published setting")
      }
      guard let modeName = claims.preQueryMode.value else {
        throw ImportError.needsFlag(
          file: file, what: "the GroupSwap pre-query mode",
          flag: "--pre-query-mode " + ModelConfig.PreQueryMode.allCases.map(\.rawValue).joined(separator: "|"),
          why: "the four modes have the same parameters and the file's configuration has no model.swap.pre_query_mode "
            + "(the published checkpoints use learn+freqs)")
      }
      guard let preQueryMode = ModelConfig.PreQueryMode(rawValue: modeName) else {
        throw ImportError.unsupported(file: file, reason: "pre-query mode '\(modeName)' (\(claims.preQueryMode.origin!)) is unknown")
      }
      let processName = try required(claims.queryProcessMode, "the query processor")
      guard let queryProcessMode = ModelConfig.QueryProcessMode(rawValue: processName) else {
        throw ImportError.unsupported(file: file, reason: "query process mode '\(processName)' (\(claims.queryProcessMode.origin!)) is unknown")
      }
      config = ModelConfig(kind: .pgm, vocabSize: vocabSize, hiddenSize: hiddenSize, heads: heads, condDim: condDim,
                           length: length, mlpRatio: mlpRatio,
                           encoderBlocks: try required(claims.encoderBlocks, "the encoder blocks"),
                           decoderBlocks: try required(claims.decoderBlocks, "the decoder blocks"),
                           preQueryMode: preQueryMode, queryProcessMode: queryProcessMode,
                           dropout: dropout, layerNormEps: layerNormEps)
    case "mdlm":
      config = ModelConfig(kind: .mdlm, vocabSize: vocabSize, hiddenSize: hiddenSize, heads: heads, condDim: condDim,
                           length: length, mlpRatio: mlpRatio, blocks: try required(claims.blocks, "the number of blocks"),
                           dropout: dropout, layerNormEps: layerNormEps)
    default:
      throw ImportError.unrecognisedArchitecture(file: file, reason: "unknown network kind '\(kind)'")
    }
    do { try config.validate() } catch {
      throw ImportError.unsupported(file: file, reason: String(describing: error))
    }

    var evidence: [(String, String)] = [("kind", claims.kind.explained), ("vocab_size", claims.vocabSize.explained),
                                        ("hidden_size", claims.hiddenSize.explained), ("n_heads", claims.heads.explained),
                                        ("cond_dim", claims.condDim.explained), ("length", claims.length.explained),
                                        ("mlp_ratio", claims.mlpRatio.explained)]
    if config.kind == .pgm {
      evidence += [("encoder.n_blocks", claims.encoderBlocks.explained), ("decoder.n_blocks", claims.decoderBlocks.explained),
                   ("swap.pre_query_mode", claims.preQueryMode.explained),
                   ("swap.query_process_mode", claims.queryProcessMode.explained)]
    } else {
      evidence.append(("n_blocks", claims.blocks.explained))
    }
    evidence.append(("dropout", claims.dropout.isEmpty ? "0.1 (default: not in the configuration)" : claims.dropout.explained))
    evidence.append(("mask_index", "\(config.maskIndex) (vocab_size − 1)"))
    return InferredArchitecture(config: config, evidence: evidence)
  }

  /// Everything the names and shapes say.
  static func claimsFromShapes(_ shapes: [(name: String, shape: [Int])], file: String) throws -> ArchitectureClaims {
    var byName: [String: [Int]] = [:]
    for (name, shape) in shapes { byName[name] = shape }
    func described(_ name: String) -> String { "\(name) \(byName[name]!)" }
    var c = ArchitectureClaims()

    let isPartition = byName.keys.contains { $0.hasPrefix("encoder.") || $0.hasPrefix("decoder.") }
    let isMDLM = byName.keys.contains { $0.hasPrefix("blocks.") }
    switch (isPartition, isMDLM) {
    case (true, false): c.kind.add("pgm", from: "names encoder.* and decoder.*")
    case (false, true): c.kind.add("mdlm", from: "names blocks.*")
    case (true, true):
      throw ImportError.unrecognisedArchitecture(file: file, reason: "the names mix an MDLM (blocks.*) and a partition "
        + "network (encoder.*, decoder.*)")
    case (false, false):
      throw ImportError.unrecognisedArchitecture(file: file, reason: "no transformer blocks (blocks.N.* for MDLM, "
        + "encoder.blocks.N.* and decoder.layers.N.* for the partition network)")
    }

    guard let embedding = byName["vocab_embed.embedding"], embedding.count == 2 else {
      throw ImportError.unrecognisedArchitecture(file: file, reason: "no 2-D vocab_embed.embedding [V, D]")
    }
    let d = embedding[1]
    c.vocabSize.add(embedding[0], from: described("vocab_embed.embedding"))
    c.hiddenSize.add(d, from: described("vocab_embed.embedding"))
    if let s = byName["sigma_map.mlp.0.weight"], s.count == 2 {
      c.condDim.add(s[0], from: described("sigma_map.mlp.0.weight"))
    }

    let blockPrefix = isPartition ? "encoder.blocks." : "blocks."
    let count = try contiguousCount(prefix: blockPrefix, in: byName.keys, file: file)
    if isPartition {
      c.encoderBlocks.add(count, from: "names encoder.blocks.0…\(count - 1)")
      let layers = try contiguousCount(prefix: "decoder.layers.", in: byName.keys, file: file)
      c.decoderBlocks.add(layers, from: "names decoder.layers.0…\(layers - 1)")
      if byName.keys.contains(where: { $0.hasPrefix("decoder.layers.") && $0.hasSuffix(".attn_qkv.weight") }) {
        throw ImportError.unsupported(file: file, reason: "the decoder has self-attention layers (decoder.layers.N.attn_qkv); "
          + "only the published 'cross-only' decoder is supported")
      }
      if byName["decoder.group_swap.query_processor.weight"] != nil {
        c.queryProcessMode.add("linear", from: "name decoder.group_swap.query_processor.weight")
      } else if byName["decoder.group_swap.query_processor.0.weight"] != nil {
        c.queryProcessMode.add("mlp4", from: "name decoder.group_swap.query_processor.0.weight")
      }
    } else {
      c.blocks.add(count, from: "names blocks.0…\(count - 1)")
    }
    let mlpName = blockPrefix + "0.mlp.0.weight"
    if let m = byName[mlpName], m.count == 2, d > 0, m[0] % d == 0 {
      c.mlpRatio.add(m[0] / d, from: described(mlpName))
    }

    if let rotary = byName[ParameterNaming.rotaryBuffer] {
      guard rotary.count == 1, rotary[0] > 0, d % (2 * rotary[0]) == 0 else {
        throw ImportError.bufferMismatch(file: file, name: ParameterNaming.rotaryBuffer,
                                         reason: "has shape \(rotary), which is no head size of hidden size \(d)")
      }
      c.heads.add(d / (2 * rotary[0]), from: "\(described(ParameterNaming.rotaryBuffer)): head size \(2 * rotary[0])")
    }
    if let positions = byName[ParameterNaming.positionBuffer], positions.count == 2 {
      c.length.add(positions[0], from: described(ParameterNaming.positionBuffer))
    }
    return c
  }

  /// n when the names under `prefix` use exactly the indices 0..<n (n ≥ 1).
  static func contiguousCount(prefix: String, in names: Dictionary<String, [Int]>.Keys, file: String) throws -> Int {
    var indices = Set<Int>()
    for name in names where name.hasPrefix(prefix) {
      let rest = name.dropFirst(prefix.count)
      guard let index = rest.split(separator: ".", maxSplits: 1).first.flatMap({ Int($0) }), index >= 0 else {
        throw ImportError.unrecognisedArchitecture(file: file, reason: "\(name) has no block index after \(prefix)")
      }
      indices.insert(index)
    }
    let n = indices.count
    guard n > 0 else {
      throw ImportError.unrecognisedArchitecture(file: file, reason: "no \(prefix)N.* tensors")
    }
    guard indices == Set(0..<n) else {
      let missing = (0...(indices.max() ?? 0)).filter { !indices.contains($0) }
      throw ImportError.unrecognisedArchitecture(file: file, reason: "the \(prefix)N indices are not contiguous from 0 "
        + "(missing \(missing.map(String.init).joined(separator: ", ")))")
    }
    return n
  }
}
