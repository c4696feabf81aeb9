import Checkpoints
import Corpus
import Engine
import Foundation
import Networks
import Tokenizers

/// Exports with everything a PyTorch user needs from the run that made the model: the BOS/EOS
/// ids and tokenizer of the recorded dataset, the Markov source of synthetic data (so that
/// `pgm eval --model EXPORT` scores samples exactly without the token file), the step count a
/// student was distilled for and how. Checkpoints writes the folder (`ModelExport`); this adds
/// what only the data and the recipe know.
public enum ModelExporting {
  /// Exports the model folder `source` to `destination`. `recipe` and `round` describe the run
  /// (defaults: the recipe the run folder kept, and the round `provenance.json` records).
  @discardableResult
  public static func export(modelFolder source: URL, to destination: URL, card: ModelCard = ModelCard(),
                            recipe: Recipe? = nil, round: Int? = nil, log: (String) -> Void = { _ in }) throws -> ExportSummary {
    var context = try context(modelFolder: source, recipe: recipe, round: round, log: log)
    context.relativiseRunPaths(exportFolder: destination)
    return try ModelExport.write(modelFolder: source, to: destination, card: card, context: context)
  }

  /// What the folder, its recorded data and its run say. Facts that cannot be found stay unknown
  /// (the export then says what it assumed); nothing here fails for a missing dataset.
  public static func context(modelFolder: URL, recipe: Recipe? = nil, round: Int? = nil,
                             log: (String) -> Void = { _ in }) throws -> ExportContext {
    let config = try ModelFolder.readConfig(modelFolder.appendingPathComponent(ModelFolder.configFile))
    var context = ExportContext.folder(modelFolder)
    let provenance = context.provenance

    if let path = provenance?.dataset, FileManager.default.fileExists(atPath: path) {
      let dataset = try TokenDataset(path: path)
      if dataset.modelVocabularySize == config.vocabSize {
        let a = dataset.attributes
        context.tokens = ExportContext.Tokens(bosId: a.bosId, bosSource: "the bos_id attribute of the training data",
                                              eosId: a.eosId, tokenizer: a.tokenizer)
        context.data = ExportContext.DataFacts(kind: a.kind.rawValue, path: path)
        if a.kind == .synthetic {
          try setMarkovSource(try dataset.markovSource(), in: &context)
        }
        if context.tokenizerFiles.isEmpty, let tokenizer = dataset.tokenizerURL {
          context.tokenizerFiles = ModelFolder.tokenizerFiles(in: tokenizer)
        }
      } else {
        log("export: the recorded dataset \(path) has \(dataset.modelVocabularySize) tokens with the mask, the model "
            + "\(config.vocabSize); its ids are not used")
      }
    } else if let path = provenance?.dataset {
      log("export: the recorded dataset \(path) is not there; the ids come from the model folder")
    }

    if context.tokens == nil, let extra = context.extraFiles.first(where: { $0.name == ModelFolder.markovSourceFile }) {
      let source = try MarkovSourceJSON.decode(extra.contents, path: modelFolder.appendingPathComponent(extra.name).path)
      context.tokens = ExportContext.Tokens(bosId: source.bos, bosSource: "the Markov source's BOS (markov_source.json)")
      if context.data == nil { context.data = ExportContext.DataFacts(kind: DatasetKind.synthetic.rawValue) }
    }
    if context.tokens == nil, !context.tokenizerFiles.isEmpty {
      let tokenizer = try TokenizerLoader.load(modelFolder)
      if let bos = tokenizer.bos, tokenizer.vocabularySizeWithMask == config.vocabSize {
        context.tokens = ExportContext.Tokens(bosId: bos, bosSource: "the tokenizer's end-of-text token",
                                              eosId: tokenizer.eos, tokenizer: tokenizer.identity.description)
      }
    }

    // transformers.AutoTokenizer loads tokenizer.json from the folder given a tokenizer_config.json
    // naming its class and special tokens (the reference's get_tokenizer calls it with
    // data.tokenizer_name_or_path).
    let names = context.tokenizerFiles.map(\.lastPathComponent)
    if let json = context.tokenizerFiles.first(where: { $0.lastPathComponent == "tokenizer.json" }),
       !names.contains(ModelFolder.huggingFaceTokenizerConfig), let tokens = context.tokens {
      let tokenizer = try TokenizerLoader.load(json)
      context.extraFiles.append(ExportContext.ExtraFile(
        name: ModelFolder.huggingFaceTokenizerConfig,
        contents: try huggingFaceTokenizerConfig(bos: tokenizer.decode([tokens.bosId]),
                                                 eos: tokens.eosId.map { tokenizer.decode([$0]) }, length: config.length),
        description: "`tokenizer_config.json`: lets `transformers.AutoTokenizer.from_pretrained(<this folder>)` load "
          + "`tokenizer.json` (a PreTrainedTokenizerFast without a mask token, so the reference appends the mask at "
          + "its vocab_size)"))
    }

    // The run: its recipe says how the model samples and, for a student, how it was distilled.
    var recipe = recipe
    if recipe == nil, let run = provenance?.run {
      recipe = try? JSONDecoder().decode(Recipe.self, from: Data(contentsOf: RunFolder(root: URL(fileURLWithPath: run)).recipeCopy))
    }
    if let recipe {
      context.sampling.nonUniform = recipe.eval.sampler == .nonUniform
      if let spec = recipe.distill, let r = round ?? provenance?.round, r == 0 {
        context.sampling.steps = spec.s0  // the teacher's step count in its run (S0)
      } else if let spec = recipe.distill, let r = round ?? provenance?.round, r >= 1, r <= spec.rounds {
        context.sampling.steps = spec.studentSteps(round: r)
        context.distillation = ExportContext.DistillationFacts(
          rounds: r, teacherSteps: spec.s0, teacherStepsPerStudentStep: spec.k, studentSteps: spec.studentSteps(round: r),
          divergence: referenceName(spec.divergence), spacing: spec.spacing.rawValue,
          normalizedTargets: !spec.leakyNormalization, optimizerStepsPerRound: spec.student.steps,
          emaTeacherOnGrowth: spec.nextTeacher == .ema, weights: (provenance?.weights ?? spec.evaluate).rawValue)
      }
    }
    return context
  }

  static func huggingFaceTokenizerConfig(bos: String, eos: String?, length: Int) throws -> Data {
    var object: [String: Any] = ["tokenizer_class": "PreTrainedTokenizerFast", "bos_token": bos, "model_max_length": length,
                                 "clean_up_tokenization_spaces": false]
    if let eos { object["eos_token"] = eos }
    return try JSONSerialization.data(withJSONObject: object, options: [.prettyPrinted, .sortedKeys])
  }

  /// The SDTT code's `distill_mode` for a divergence it has; this project's name otherwise.
  static func referenceName(_ divergence: Divergence) -> String {
    switch divergence {
    case .reverseKL: return "kl-bwd"
    case .forwardKL: return "kl-fwd"
    case .mse: return "mse"
    case .logL1: return "tvd"
    case .totalVariation: return "tv (true total variation; not in the reference)"
    }
  }

  static func setMarkovSource(_ source: MarkovSource, in context: inout ExportContext) throws {
    context.extraFiles.removeAll { $0.name == ModelFolder.markovSourceFile }
    context.extraFiles.append(ExportContext.ExtraFile(
      name: ModelFolder.markovSourceFile, contents: try MarkovSourceJSON.encode(source),
      description: "`markov_source.json`: the synthetic Markov source the data was drawn from (successor table, "
        + "probabilities, stationary distribution, BOS = \(source.bos)), so that `pgm eval --model` scores samples "
        + "exactly without the token file"))
  }
}
