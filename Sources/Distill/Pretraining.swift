import Checkpoints
import Corpus
import Engine
import Foundation
import Networks
import Student

/// `pgm pretrain`: data, then the recipe's network (and, for text, its evaluator), resumable.
public enum Pretraining {
  public struct Result: Codable {
    public var model: String
    public var summary: Trainer.Summary
  }

  /// Trains the recipe's network into `run.teacher` (resuming if a checkpoint is there).
  public static func teacher(_ recipe: Recipe, run: RunFolder, dataset: TokenDataset,
                             log: @escaping (String) -> Void) throws -> Result {
    let config = try recipe.model.config(vocabularySize: dataset.vocabularySize, length: dataset.length)
    var settings = recipe.pretrain
    settings.seed = recipe.seed(for: "pretrain")
    return try train(config: config, settings: settings, initSeed: recipe.seed(for: "init"), dataset: dataset,
                     directory: run.teacher, label: "teacher", log: log)
  }

  /// Trains the autoregressive evaluator into `run.evaluator`.
  public static func evaluator(_ recipe: Recipe, run: RunFolder, dataset: TokenDataset,
                               log: @escaping (String) -> Void) throws -> Result? {
    guard let spec = recipe.evaluator else { return nil }
    var model = spec.model
    model.kind = .ar
    let config = try model.config(vocabularySize: dataset.vocabularySize, length: dataset.length)
    var settings = spec.pretrain
    settings.seed = recipe.seed(for: "evaluator")
    return try train(config: config, settings: settings, initSeed: recipe.seed(for: "evaluator-init"), dataset: dataset,
                     directory: run.evaluator, label: "evaluator", log: log)
  }

  static func train(config: ModelConfig, settings: TrainingSettings, initSeed: UInt64, dataset: TokenDataset,
                    directory: URL, label: String, log: @escaping (String) -> Void) throws -> Result {
    let network = try Network(config, seed: initSeed)
    log("\(label): \(config.kind.rawValue) D=\(config.hiddenSize) heads=\(config.heads) "
        + (config.kind == .pgm ? "blocks=\(config.encoderBlocks)+\(config.decoderBlocks)" : "blocks=\(config.blocks)")
        + " V=\(config.vocabSize) L=\(config.length), \(network.parameters.elementCount) parameters; "
        + "\(settings.steps) steps of \(settings.batchSize)×\(settings.accumulation) rows")
    let trainer = try Trainer(network: network, settings: settings, train: DatasetSplitSource(dataset, .train),
                              validation: DatasetSplitSource(dataset, .validation), files: TrainingFiles(directory: directory),
                              label: label, log: log)
    let summary = try trainer.run()
    // The tokenizer travels with the model, so that `pgm sample` can decode; the provenance lets
    // `pgm eval --model` find the data.
    for weights in WeightChoice.allCases {
      let dir = trainer.files.model(weights)
      if let tok = dataset.tokenizerURL { try ModelFolder.copyTokenizer(tok, into: dir) }
      try ModelProvenance(dataset: absolutePath(dataset.path), run: directory.deletingLastPathComponent().path,
                          round: config.kind == .ar ? nil : 0, weights: weights).write(to: dir)
    }
    return Result(model: trainer.files.model(.ema).path, summary: summary)
  }

  static func absolutePath(_ p: String) -> String {
    p.hasPrefix("/") ? p : FileManager.default.currentDirectoryPath + "/" + p
  }
}
