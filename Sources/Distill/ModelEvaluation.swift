import Checkpoints
import Corpus
import Foundation
import Networks
import Student
import Teacher

/// `pgm eval --model DIR`: one model at a list of step counts, plus its validation NLL.
public enum ModelEvaluation {
  public struct Result: Codable {
    public var model: String
    public var valNLL: Double?
    public var valPPL: Double?
    public var rows: [EvaluationRow]
    enum CodingKeys: String, CodingKey { case model, valNLL = "val_nll", valPPL = "val_ppl", rows }
  }

  /// The evaluator trained in the model's run folder, when the model was saved before it existed
  /// (`pgm pretrain` trains the teacher first, then the evaluator).
  static func runEvaluator(_ provenance: ModelProvenance?) -> String? {
    guard let run = provenance?.run else { return nil }
    let model = RunFolder(root: URL(fileURLWithPath: run)).evaluator.appendingPathComponent(TrainingFiles.averageFolder)
    return FileManager.default.fileExists(atPath: model.appendingPathComponent(ModelFolder.configFile).path) ? model.path : nil
  }

  public static func run(model dir: URL, steps: [Int], samples: Int, batch: Int, seed: UInt64, data: URL?,
                         evaluator: URL?, variants: [SamplerVariant], log: @escaping (String) -> Void) throws -> Result {
    let config = try ModelFolder.readConfig(dir.appendingPathComponent(ModelFolder.configFile))
    try ResourceEstimate.require(memory: [("evaluating --samples \(samples) at --batch \(batch)",
                                           ResourceEstimate.samplingBytes(config, count: samples, batch: batch))], disk: [], at: dir)
    let network = try ModelFolder.load(dir).requireDenoiser("pgm eval")
    let provenance = ModelProvenance.read(dir)
    guard let dataPath = data?.path ?? provenance?.dataset else {
      throw RecipeError.invalid("eval", "\(dir.path) does not say which data it was trained on; pass --data F.h5")
    }
    let dataset = try TokenDataset(path: dataPath, expectedLength: network.config.length)
    guard dataset.modelVocabularySize == network.config.vocabSize else {
      throw RecipeError.invalid("eval", "the data has \(dataset.modelVocabularySize) tokens with the mask, the model \(network.config.vocabSize)")
    }
    var measure: QualityMeasure = .none
    if dataset.attributes.kind == .synthetic {
      measure = .markov(try dataset.markovSource())
    } else if let e = evaluator?.path ?? provenance?.evaluator ?? runEvaluator(provenance) {
      let ar = try ModelFolder.load(URL(fileURLWithPath: e)).requireAutoregressive("the evaluator \(e)")
      measure = .evaluator(ar, eos: dataset.attributes.eosId)
    } else {
      log("eval: no evaluator for this text model (train one with the recipe's 'evaluator' section or pass --evaluator); reporting entropy and speed only")
    }
    let evaluation = SampleEvaluation(measure: measure, samples: samples, batch: batch, bos: dataset.attributes.bosId)
    var rows: [EvaluationRow] = []
    for s in steps {
      for variant in variants {
        log("eval: \(s) steps, \(variant), \(samples) samples …")
        rows.append(try evaluation.evaluate(network, name: dir.lastPathComponent, round: provenance?.round, steps: s,
                                            variant: variant, seed: seed))
      }
    }
    let val = try ValidationSplit.nll(network.network, dataset, seed: seed)
    return Result(model: dir.path, valNLL: val, valPPL: val.map(exp), rows: rows)
  }
}

/// Validation NLL (the ELBO of SPEC §4 on held-out rows) of any network, as `pgm eval` and the
/// report quote it: the first 256 validation rows, batches of 32.
enum ValidationSplit {
  static func nll(_ network: Network, _ dataset: TokenDataset, seed: UInt64) throws -> Double? {
    let source = DatasetSplitSource(dataset, .validation)
    return try TrainingObjective.validationNLL(network: network, source: source, rows: 256, batchSize: 32, seed: seed)
  }
}
