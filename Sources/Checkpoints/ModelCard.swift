import Foundation
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
    let context: ExportContext
    let reference: ReferenceConfig
    /// Every file of the folder, README.md included.
    let files: [String]
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
      + " The weights use the parameter names and shapes of the public PyTorch code, so its modules load them directly, "
      + "and `config.json` is the reference's own Hydra configuration (`model`, `algo`, `noise`, `sampling`, …).\n\n"

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

    out += Self.tokenSection(facts) + "\n"
    out += Self.diffusionSection(facts) + "\n"
    if let d = facts.context.distillation { out += Self.distillationSection(d, facts) + "\n" }

    out += "## Files\n\n" + Self.fileList(facts) + "\n"

    out += "## Provenance\n\n"
    if let source { out += "- Source: \(source)\n" }
    for line in provenance { out += "- \(line)\n" }
    if let dataset = facts.context.provenance?.dataset ?? facts.context.data?.path {
      out += "- Trained on the token dataset `\(dataset)` (\(facts.context.data?.kind ?? "kind unknown"))\n"
    }
    out += "- Weights: `model.safetensors`, \(grouped(facts.weightsBytes)) bytes, SHA-256 `\(facts.weightsSHA256)`\n"
    out += "- Written by `pgm export`.\n\n"

    out += Self.loadingSection(isPartition: isPartition) + "\n"
    out += Self.evaluationSection(facts)

    for section in sections {
      out += "\n## \(section.title)\n\n" + section.markdown
      if !section.markdown.hasSuffix("\n") { out += "\n" }
    }
    return out
  }

  static func tokenSection(_ facts: Facts) -> String {
    let c = facts.config
    let tokens = facts.context.resolvedTokens(c)
    let names = facts.reference.tokenizer.files
    var tokenizer: String
    if !names.isEmpty {
      tokenizer = names.map { "`\($0)`" }.joined(separator: ", ") + (tokens.tokenizer.map { " (`\($0)`)" } ?? "")
      if facts.reference.data.tokenizerNameOrPath == "." {
        tokenizer += "; `transformers.AutoTokenizer.from_pretrained(\"<this folder>\")` loads it (`data.tokenizer_name_or_path: .`, "
          + "relative to the working directory), with the same ids"
      }
      if names.contains("char-tokenizer.json") {
        tokenizer += "; `char-tokenizer.json` is this project's character table (id → character), not a Hugging Face file"
      }
    } else if facts.context.data?.kind == "synthetic" {
      tokenizer = "none: the tokens are the synthetic source's symbols 0…\(c.vocabSize - 3), and BOS = \(c.vocabSize - 2)"
    } else {
      tokenizer = "none recorded" + (tokens.tokenizer.map { " (the data was tokenized with `\($0)`)" } ?? "")
    }
    let rows: [[String]] = [
      ["vocabulary", "\(c.vocabSize - 1) token ids (`tokenizer.vocab_size`) + the mask = V = \(c.vocabSize) (`vocab_size`)"],
      ["mask id", "\(c.maskIndex) = V − 1 (`tokenizer.mask_token_id`): the tokenizer has no mask token, so the mask comes "
        + "after its vocabulary, as the reference does when `tokenizer.mask_token` is None"],
      ["BOS id", "\(tokens.bosId) (`tokenizer.bos_token_id`; \(tokens.bosSource)): position 0 of every sequence, "
        + "never sampled; the reference's samplers require it"],
      ["EOS id", tokens.eosId.map { "\($0) (`tokenizer.eos_token_id`)" }
        ?? "none (`tokenizer.eos_token_id` is null: \(facts.context.data?.kind == "synthetic" ? "synthetic rows have no EOS" : "not recorded"))"],
      ["tokenizer", tokenizer],
    ]
    return "## Token ids\n\n" + table(header: ["", ""], rows: rows) + "\n"
  }

  static func diffusionSection(_ facts: Facts) -> String {
    let c = facts.config, r = facts.reference
    let isPartition = c.kind == .pgm
    var out = "## Diffusion, loss and sampling (as `config.json` records them)\n\n"
    out += "- Noise schedule: log-linear, α(t) = 1 − (1 − ε)·t with ε = 1e-3 (`noise`; the reference fixes this ε in its code).\n"
    out += "- Loss: the ELBO (`algo.loss_type: elbo`) with the `subs` parameterisation in continuous time (`algo.T: 0`), "
      + (isPartition
        ? "as the partition ELBO: the mask logit is set to −∞ (`neg_infinity_mode: true-inf`) and each token is predicted "
          + "from the other group."
        : "the mask logit lowered by 10⁶ (`neg_infinity_mode: large-finite`), unmasked positions clamped to their token.")
      + " Training times t = (1 − ε_s)·u + ε_s with ε_s = \(formatted(r.training.samplingEps)) (`training.sampling_eps`).\n"
    let steps = r.sampling.steps
    let stepsText = facts.context.sampling.steps == nil
      ? "\(steps) (`sampling.steps`): no step count was recorded, so L, one token per step"
      : (facts.context.distillation != nil ? "\(steps) (`sampling.steps`), the step count it was distilled for"
                                           : "\(steps) (`sampling.steps`)")
    if isPartition {
      out += "- Sampler: `\(r.algo.samplingMode ?? "efficient-uniform")` (`algo.sampling_mode`): "
        + (facts.context.sampling.nonUniform
          ? "each step reveals a Binomial(L, 1/S) number of positions per row"
          : "each step reveals the next L/S positions of a random order (the reference needs L % S = 0)")
        + ", in \(stepsText).\n"
    } else {
      out += "- Sampler: ancestral (`sampling.predictor: ddpm_cache`), in \(stepsText).\n"
    }
    out += "- Time grid `linspace(1, ε_t, S + 1)` with ε_t = 1e-5 (`sampling.eps`; the reference's samplers take it as their "
      + "`eps` argument, default 1e-5). BOS is injected at position 0 (`sampling.inject_bos: true`); no nucleus filtering "
      + "(`sampling.p_nucleus: 1.0`); categorical draws in float64 (`sampling.use_float64`).\n"
    return out
  }

  static func distillationSection(_ d: ExportContext.DistillationFacts, _ facts: Facts) -> String {
    var out = "## Distillation\n\n"
    out += "Self-Distillation Through Time (SDTT; Deschenaux, Gulcehre, arXiv 2410.21035): \(d.rounds) rounds from a "
      + "\(d.teacherSteps)-step teacher, \(d.teacherStepsPerStudentStep) teacher steps per student step, "
      + "\(d.optimizerStepsPerRound) optimizer steps per round, so this student samples in \(d.studentSteps) steps. "
      + "Divergence `\(d.divergence)`; teacher times spaced `\(d.spacing)`; targets "
      + (d.normalizedTargets ? "normalised without the mask column (SPEC §6; the reference's are leaky)" : "leaky, as the reference's")
      + "; the next round's teacher took the student's \(d.emaTeacherOnGrowth ? "EMA" : "raw") weights; "
      + "the exported weights are the student's \(d.weights == "ema" ? "EMA" : "raw") weights. "
      + "`config.json` holds these under `parameterization`, the SDTT code's section (`distill_mode`, `num_distill_steps`, "
      + "`orig_num_sampling_steps`, `min_num_sampling_steps`, `grow_dt_every`, `use_ema_on_growth`).\n"
    return out
  }

  static func fileList(_ facts: Facts) -> String {
    var lines: [String] = []
    for file in facts.files {
      switch file {
      case ModelFolder.weightsFile:
        lines.append("- `model.safetensors`: every parameter under the reference's name, float32, and `rotary_emb.inv_freq`, "
          + "the buffer a strict `load_state_dict` expects.")
      case ModelFolder.configFile:
        lines.append("- `config.json`: the reference's Hydra configuration — `model`, `algo`, `noise`, `sampling`, `training`, "
          + "`data`, `tokenizer`\(facts.context.distillation == nil ? "" : ", `parameterization`"), `vocab_size` — and "
          + "`parameter_order`, the reference's parameter registration order (its EMA is a bare list in that order).")
      case ModelProvenance.fileName:
        lines.append("- `provenance.json`: the token dataset, evaluator and run folder this model came from (absolute paths "
          + "on the machine that trained it); `pgm eval --model` uses them when they still exist.")
      case "README.md":
        lines.append("- `README.md`: this card.")
      default:
        if let extra = facts.context.extraFiles.first(where: { $0.name == file }) {
          lines.append("- " + extra.description + ".")
        } else {
          lines.append("- `\(file)`: the tokenizer.")
        }
      }
    }
    return lines.joined(separator: "\n") + "\n"
  }

  static func loadingSection(isPartition: Bool) -> String {
    var out = "## Loading in PyTorch (runs on a CPU)\n\n"
    out += "You need a checkout of the reference code (`github.com/jdeschena/pgm`, branch `text_pretrain`) and "
      + "`pip install torch einops omegaconf safetensors huggingface_hub` (its `models/__init__.py` imports both network "
      + "files, and `models/dit.py` imports `huggingface_hub`). Run the snippet in this folder.\n\n"
    out += "**Do not install flash-attn on a CPU** (it builds only against CUDA). The reference's `models/dit.py` and "
      + "`models/encoder_decoder.py` import `flash_attn` at the top, but the non-causal networks exported here never call "
      + "its CUDA kernels: attention runs through `torch.nn.functional.scaled_dot_product_attention`, and the one flash-attn "
      + "function they call is `flash_attn.layers.rotary.apply_rotary_emb_torch`, which is plain PyTorch. When CUDA is "
      + "absent the snippet registers a small stand-in module that provides that function. (The fused kernels — "
      + "`apply_rotary_emb_qkv_`, `flash_attn_varlen_qkvpacked_func` — are used only by the causal `DDiTBlockCausal` and by "
      + "the SDTT branch's `models/dit_orig.py`, which therefore needs a GPU; load MDLM exports with `models/dit.py` of "
      + "`text_pretrain` as below.) The forward passes' `torch.amp.autocast('cuda', …)` only warns on a CPU.\n\n"
    out += "```python\n" + loadingCode(isPartition: isPartition) + "```\n"
    out += "\nThe reference's own samplers run from this folder too (checked on a CPU by this project's "
      + "`scripts/check-export-with-reference`): merge this `config.json` over `default_config.get_default_config()`, "
      + "build `algo.\(isPartition ? "PartitionMDLM" : "MDLM")(config, tokenizer)` with a tokenizer object whose "
      + "`vocab_size` and `bos_token_id` are `tokenizer.vocab_size` and `tokenizer.bos_token_id` here and whose "
      + "`mask_token` is None (the reference then puts the mask at `vocab_size`, as here), load `model.safetensors` into "
      + "its `backbone`, and call `generate_samples(n, num_steps=config.sampling.steps)`. Those Lightning modules need "
      + "the reference's training dependencies (lightning, hydra-core, transformers, torchmetrics, datasets, requests; "
      + "`utils.py` imports timm's scheduler), and their constructor loads the tokenizer of the generative-perplexity "
      + "evaluator (`eval.gen_ppl_eval_model_name_or_path`, gpt2-large from the Hugging Face hub by default): offline, "
      + "point it at a local tokenizer.\n"
    return out
  }

  static func evaluationSection(_ facts: Facts) -> String {
    let steps = facts.reference.sampling.steps
    var out = "## Evaluating with this project\n\n"
    out += "`pgm eval --model <this folder> --steps \(steps)` works on this folder alone: "
    if facts.files.contains(ModelFolder.markovSourceFile) {
      out += "the Markov source in `markov_source.json` scores the samples exactly (forbidden transitions, bigram TV, NLL "
        + "under the source, entropy), and the validation NLL is measured on rows drawn from it when the recorded token "
        + "file is gone. "
    } else {
      out += "it uses the token dataset and evaluator named in `provenance.json` while they exist (generative perplexity, "
        + "validation NLL); without them it reports entropy and speed and says why the rest is missing. "
    }
    out += "`pgm sample --model <this folder>` draws samples (BOS from `config.json`).\n"
    return out
  }

  /// Python that builds the reference network from `config.json`, loads the weights and predicts.
  static func loadingCode(isPartition: Bool) -> String {
    let (module, cls) = isPartition ? ("models.encoder_decoder", "PartitionDIT") : ("models.dit", "DIT")
    let predict = isPartition
      ? """
        # One prediction: the encoder reads BOS at position 0, the decoder predicts positions 1 … L-1.
        L = config.model.length
        with torch.no_grad():
            logits = network(torch.tensor([[config.tokenizer.bos_token_id]]), torch.zeros(1),
                             clean_positions=torch.zeros(1, 1, dtype=torch.long),
                             noisy_positions=torch.arange(1, L)[None],
                             concrete_lengths=torch.ones(1, dtype=torch.long), use_inference_mode=True)
        logits[..., config.tokenizer.mask_token_id] = -float("inf")  # the mask is never predicted
        print(logits.shape)  # [1, L - 1, V]

        """
      : """
        # One prediction: BOS at position 0, every other position masked.
        L = config.model.length
        x = torch.full((1, L), config.tokenizer.mask_token_id)
        x[:, 0] = config.tokenizer.bos_token_id
        with torch.no_grad():
            logits = network(x, torch.zeros(1))
        logits[..., config.tokenizer.mask_token_id] = -float("inf")  # the mask is never predicted
        print(logits.shape)  # [1, L, V]

        """
    return """
      import json
      import sys
      import types

      import omegaconf
      import safetensors.torch
      import torch

      REFERENCE = "/path/to/pgm"  # a checkout of github.com/jdeschena/pgm, branch text_pretrain

      if not torch.cuda.is_available():
          # Stand-in for flash-attn: on this path the networks call only its pure-PyTorch rotary
          # helper. x: [..., seq, heads, head_dim]; cos, sin: [..., seq, head_dim / 2].
          def apply_rotary_emb_torch(x, cos, sin):
              cos = torch.cat((cos, cos), dim=-1).unsqueeze(-2)
              sin = torch.cat((sin, sin), dim=-1).unsqueeze(-2)
              first, second = x.chunk(2, dim=-1)
              return x * cos + torch.cat((-second, first), dim=-1) * sin

          flash_attn = types.ModuleType("flash_attn")
          flash_attn.layers = types.ModuleType("flash_attn.layers")
          flash_attn.layers.rotary = types.ModuleType("flash_attn.layers.rotary")
          flash_attn.layers.rotary.apply_rotary_emb_torch = apply_rotary_emb_torch
          sys.modules.update({"flash_attn": flash_attn, "flash_attn.layers": flash_attn.layers,
                              "flash_attn.layers.rotary": flash_attn.layers.rotary})

      sys.path.insert(0, REFERENCE)
      from \(module) import \(cls)  # noqa: E402

      with open("config.json") as f:
          config = omegaconf.OmegaConf.create(json.load(f))
      network = \(cls)(config, vocab_size=config.vocab_size)
      network.load_state_dict(safetensors.torch.load_file("model.safetensors"))  # strict: every name and shape
      network.eval()


      """ + predict
  }
}

/// A number as a card prints it: 0.001 → "1e-3".
func formatted(_ x: Double) -> String {
  let exponent = Int(log10(x).rounded(.down))
  let mantissa = x / pow(10, Double(exponent))
  return abs(mantissa - 1) < 1e-9 ? "1e\(exponent)" : "\(x)"
}
