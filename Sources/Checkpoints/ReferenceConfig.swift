import Networks

/// The reference's Hydra configuration for a network, as much of it as its backbone constructors
/// read: `PartitionDIT(config, vocab_size)` reads `config.model.*` and `config.algo.causal_attention`;
/// `DIT` the same with `model.n_blocks`. Written into exported `config.json` files as
/// `reference_config`, so that `OmegaConf.create(reference_config)` builds the network.
///
/// `model.type` is what the SDTT code's `get_backbone` dispatches on (`encoder-decoder`,
/// `ddit-orig`); the PGM pretraining code dispatches on `algo.backbone` (`encoder-decoder`, `dit`).
struct ReferenceConfig: Encodable, Equatable {
  struct Blocks: Encodable, Equatable {
    var nBlocks: Int
    var mode: String?
    enum CodingKeys: String, CodingKey { case nBlocks = "n_blocks", mode }
  }

  struct Swap: Encodable, Equatable {
    var preQueryMode: String
    var queryProcessMode: String
    var normalizeMode: String
    enum CodingKeys: String, CodingKey {
      case preQueryMode = "pre_query_mode", queryProcessMode = "query_process_mode", normalizeMode = "normalize_mode"
    }
  }

  struct Model: Encodable, Equatable {
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

  struct Algo: Encodable, Equatable {
    var name: String
    var backbone: String
    var parameterization = "subs"
    var timeConditioning = false
    var causalAttention = false
    enum CodingKeys: String, CodingKey {
      case name, backbone, parameterization, timeConditioning = "time_conditioning", causalAttention = "causal_attention"
    }
  }

  var model: Model
  var algo: Algo
  var timeConditioning = false
  var vocabSize: Int

  enum CodingKeys: String, CodingKey {
    case model, algo, timeConditioning = "time_conditioning", vocabSize = "vocab_size"
  }

  /// The reference configuration of `config`; throws for networks the reference cannot build
  /// with these weights.
  init(_ config: ModelConfig) throws {
    func refuse(_ why: String) -> ImportError {
      .unsupported(file: "config.json", reason: "cannot export for the reference code: \(why)")
    }
    guard config.layerNormEps == 1e-5 else { throw refuse("its LayerNorm eps is fixed at 1e-5, this network uses \(config.layerNormEps)") }
    guard config.maskIndex == config.vocabSize - 1 else { throw refuse("it puts the mask token at vocab_size − 1, this network at \(config.maskIndex)") }
    guard !config.timeConditioning else { throw refuse("time conditioning is not supported") }
    var model = Model(type: "", hiddenSize: config.hiddenSize, condDim: config.condDim, length: config.length,
                      nHeads: config.heads, mlpRatio: config.mlpRatio, dropout: config.dropout)
    switch config.kind {
    case .pgm:
      model.type = "encoder-decoder"
      model.encoder = Blocks(nBlocks: config.encoderBlocks)
      model.decoder = Blocks(nBlocks: config.decoderBlocks, mode: "cross-only")
      model.swap = Swap(preQueryMode: config.preQueryMode.rawValue, queryProcessMode: config.queryProcessMode.rawValue,
                        normalizeMode: "layernorm")
      algo = Algo(name: "partition-mdlm", backbone: "encoder-decoder")
    case .mdlm:
      guard config.mlpRatio == 4 else { throw refuse("its DIT fixes the MLP ratio at 4, this network uses \(config.mlpRatio)") }
      model.type = "ddit-orig"
      model.nBlocks = config.blocks
      algo = Algo(name: "mdlm", backbone: "dit")
    case .ar:
      throw refuse("its causal network (DDiTBlockCausal) has no adaLN parameters, unlike this project's 'ar' evaluator")
    }
    self.model = model
    vocabSize = config.vocabSize
  }
}
