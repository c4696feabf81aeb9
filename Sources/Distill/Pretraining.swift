import Checkpoints
import Cluster
import Corpus
import Engine
import Foundation
import Networks
import Student

/// `pgm pretrain`: data, then the recipe's network (and, for text, its evaluator), resumable.
public enum Pretraining {
  public struct Result: Codable {
    public var model: String
    /// Nil when the network was already trained (the phase's manifest matched).
    public var summary: Trainer.Summary?
  }

  /// Trains the recipe's network into the run's teacher folder (resuming if a checkpoint is there);
  /// nothing to do when the teacher phase is done with the same inputs.
  public static func teacher(_ recipe: Recipe, run: RunFolder, dataset: TokenDataset, world: Communicator = .single,
                             log: @escaping (String) -> Void) throws -> Result {
    let config = try recipe.model.config(vocabularySize: dataset.vocabularySize, length: dataset.length)
    var settings = recipe.pretrain
    settings.seed = recipe.seed(for: "pretrain")
    return try train(.teacher, config: config, settings: settings, initSeed: recipe.seed(for: "init"), dataset: dataset,
                     run: run, label: "teacher", world: world, log: log)
  }

  /// Trains the autoregressive evaluator into the run's evaluator folder.
  public static func evaluator(_ recipe: Recipe, run: RunFolder, dataset: TokenDataset, world: Communicator = .single,
                               log: @escaping (String) -> Void) throws -> Result? {
    guard let spec = recipe.evaluator else { return nil }
    var model = spec.model
    model.kind = .ar
    let config = try model.config(vocabularySize: dataset.vocabularySize, length: dataset.length)
    var settings = spec.pretrain
    settings.seed = recipe.seed(for: "evaluator")
    return try train(.evaluator, config: config, settings: settings, initSeed: recipe.seed(for: "evaluator-init"), dataset: dataset,
                     run: run, label: "evaluator", world: world, log: log)
  }

  /// Trains one network; in an mpirun job data-parallel over the ranks (rank 0 writes the files).
  static func train(_ part: RunFolder.Trained, config: ModelConfig, settings: TrainingSettings, initSeed: UInt64,
                    dataset: TokenDataset, run: RunFolder, label: String, world: Communicator = .single,
                    log: @escaping (String) -> Void) throws -> Result {
    let ledger = RunLedger(run: run, log: log)
    var summary: Trainer.Summary?
    try ledger.ensure(part.phase, world: world, consumed: {
      ["config": try FileDigest.sha256(json: config), "settings": try FileDigest.sha256(json: settings),
       "seed.init": String(initSeed), "phase:data": try ledger.identity(of: .data)]
    }) {
      let network = try Network(config, seed: initSeed)
      log("\(label): \(config.kind.rawValue) D=\(config.hiddenSize) heads=\(config.heads) "
          + (config.kind == .pgm ? "blocks=\(config.encoderBlocks)+\(config.decoderBlocks)" : "blocks=\(config.blocks)")
          + " V=\(config.vocabSize) L=\(config.length), \(network.parameters.elementCount) parameters; "
          + "\(settings.steps) steps of \(settings.batchSize)×\(settings.accumulation) rows"
          + (world.size > 1 ? " on \(world.size) ranks" : ""))
      let trainer = try Trainer(network: network, settings: settings, train: DatasetSplitSource(dataset, .train),
                                validation: DatasetSplitSource(dataset, .validation),
                                files: TrainingFiles(directory: run.directory(of: part), writes: world.isRoot),
                                label: label, log: log, reducer: world.gradientReducer, slice: (world.rank, world.size))
      summary = try trainer.run()
      // The tokenizer travels with the model, so that `pgm sample` can decode; the provenance lets
      // `pgm eval --model` find the data.
      if world.isRoot {
        for weights in WeightChoice.allCases {
          let dir = run.model(part, weights)
          if let tok = dataset.tokenizerURL { try ModelFolder.copyTokenizer(tok, into: dir) }
          try ModelProvenance(dataset: absolutePath(dataset.path), run: run.root.path,
                              round: config.kind == .ar ? nil : 0, weights: weights).relative(to: dir, within: run.root).write(to: dir)
        }
      }
      return [run.directory(of: part)]
    }
    if summary == nil { log("\(label): already trained (\(run.relative(run.manifest(part.phase))))") }
    return Result(model: run.model(part, .ema).path, summary: summary)
  }

  static func absolutePath(_ p: String) -> String {
    p.hasPrefix("/") ? p : FileManager.default.currentDirectoryPath + "/" + p
  }
}
