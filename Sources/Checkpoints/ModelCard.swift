import Networks

/// The `README.md` written beside an exported model: what the network is, its sizes, where it
/// came from (with the SHA-256 of the weights), and how to load it with the reference code.
///
/// Callers add their own sections (`sections`), rendered after the standard ones in order; the
/// distillation report, for instance, adds its table of steps against quality there.
public struct ModelCard: Sendable, Equatable {
  /// A section of markdown under a `##` heading.
  public struct Section: Sendable, Equatable {
    public var title: String
    public var markdown: String

    public init(title: String, markdown: String) {
      self.title = title
      self.markdown = markdown
    }
  }

  /// The heading; nil for one that names the network and its sizes.
  public var title: String?
  /// A paragraph under the heading; nil for a standard one.
  public var summary: String?
  /// Where the weights came from (a run, a checkpoint); listed under Provenance.
  public var source: String?
  /// More provenance lines (e.g. "distilled for 5 rounds from …").
  public var provenance: [String]
  public var sections: [Section]

  public init(title: String? = nil, summary: String? = nil, source: String? = nil, provenance: [String] = [],
              sections: [Section] = []) {
    self.title = title
    self.summary = summary
    self.source = source
    self.provenance = provenance
    self.sections = sections
  }

  /// A markdown table (cells are escaped so that `|` cannot break it).
  public static func table(header: [String], rows: [[String]]) -> String {
    func row(_ cells: [String]) -> String {
      "| " + cells.map { $0.replacingOccurrences(of: "|", with: "\\|").replacingOccurrences(of: "\n", with: " ") }
        .joined(separator: " | ") + " |"
    }
    return ([row(header), "|" + String(repeating: "---|", count: header.count)] + rows.map(row)).joined(separator: "\n")
  }

  /// What the exporter knows about the files it wrote.
  struct Facts {
    let config: ModelConfig
    let parameterCount: Int
    let parameterTensors: Int
    let weightsSHA256: String
    let weightsBytes: Int
  }

  /// The whole card.
  func render(_ facts: Facts) -> String {
    let c = facts.config
    let isPartition = c.kind == .pgm
    let name = isPartition
      ? "PGM partition network, \(c.encoderBlocks)+\(c.decoderBlocks) blocks, D=\(c.hiddenSize)"
      : "MDLM, \(c.blocks) blocks, D=\(c.hiddenSize)"
    var out = "# \(title ?? name)\n\n"
    out += (summary ?? (isPartition
      ? "A partition generative model (PGM; Deschenaux, Tran, Gulcehre, arXiv 2505.18883): a masked-diffusion language "
        + "model whose encoder reads only the known tokens and whose decoder predicts the others through GroupSwap "
        + "queries, without mask tokens in the input."
      : "A masked diffusion language model (MDLM, Sahoo et al. 2024) with the reference's `DIT` backbone."))
      + " The weights use the parameter names and shapes of the public PyTorch code, so its modules load them directly.\n\n"

    out += "## Network\n\n"
    var rows: [[String]] = [
      ["network", isPartition ? "partition network (`PartitionDIT`)" : "MDLM baseline (`DIT`)"],
      ["vocabulary V", "\(c.vocabSize) (mask token id \(c.maskIndex))"],
      ["hidden size D", "\(c.hiddenSize)"],
      ["attention heads", "\(c.heads) (head size \(c.headDim))"],
      ["conditioning size C", "\(c.condDim)"],
      ["sequence length L", "\(c.length)"],
    ]
    if isPartition {
      rows.append(["blocks", "\(c.encoderBlocks) encoder + \(c.decoderBlocks) decoder (cross-attention only)"])
      rows.append(["GroupSwap", "pre-query `\(c.preQueryMode.rawValue)`, query processor `\(c.queryProcessMode.rawValue)`, LayerNorm"])
    } else {
      rows.append(["blocks", "\(c.blocks)"])
    }
    rows += [["MLP ratio", "\(c.mlpRatio)"], ["dropout (training)", "\(c.dropout)"],
             ["parameters", "\(grouped(facts.parameterCount)) in \(facts.parameterTensors) tensors, float32"]]
    out += Self.table(header: ["", ""], rows: rows) + "\n\n"

    out += "## Provenance\n\n"
    if let source { out += "- Source: \(source)\n" }
    for line in provenance { out += "- \(line)\n" }
    out += "- Weights: `model.safetensors`, \(grouped(facts.weightsBytes)) bytes, SHA-256 `\(facts.weightsSHA256)`\n"
    out += "- Written by `pgm export`. `config.json` holds this project's configuration and, under `reference_config`, "
      + "the reference's Hydra structure (`model:`, `algo:`, `vocab_size`).\n\n"

    out += "## Loading in PyTorch\n\n"
    out += "With the reference code (`github.com/jdeschena/pgm`, branch `text_pretrain`) importable, "
      + "its requirements installed (flash-attn among them), and this folder as the working directory:\n\n"
    out += "```python\n" + Self.loadingCode(isPartition: isPartition) + "```\n\n"
    out += "`model.safetensors` also holds `rotary_emb.inv_freq`, the buffer that `load_state_dict` expects.\n"

    for section in sections {
      out += "\n## \(section.title)\n\n" + section.markdown
      if !section.markdown.hasSuffix("\n") { out += "\n" }
    }
    return out
  }

  /// Python that builds the reference network from `reference_config` and loads the weights.
  static func loadingCode(isPartition: Bool) -> String {
    let (module, cls) = isPartition ? ("models.encoder_decoder", "PartitionDIT") : ("models.dit", "DIT")
    return """
      import json

      import omegaconf
      import safetensors.torch
      from \(module) import \(cls)

      with open("config.json") as f:
          reference = json.load(f)["reference_config"]
      network = \(cls)(omegaconf.OmegaConf.create(reference), vocab_size=reference["vocab_size"])
      network.load_state_dict(safetensors.torch.load_file("model.safetensors"))  # strict: every name must match
      network.eval()

      """
  }
}
