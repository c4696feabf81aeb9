import Checkpoints
import Corpus
import Engine
import Foundation
import Networks
import Student
import Teacher
import Tokenizers

/// `pgm eval --model DIR`: one model at a list of step counts, plus its validation NLL.
///
/// Works on a model folder alone, e.g. an export moved to another machine. What it measures
/// depends on what is reachable, in this order:
/// - the token dataset (`--data`, else `provenance.json`'s while the file exists): exact metrics
///   (synthetic) or generative perplexity under the evaluator (text), validation NLL on its
///   validation split;
/// - else `markov_source.json` (exports of synthetic-data models): the same exact metrics, and
///   the validation NLL on rows drawn from the source;
/// - else: entropy and speed (plus generative perplexity if an evaluator is reachable), the
///   validation NLL skipped — each with a note saying why, never a failure.
/// The BOS comes from the data, the Markov source, the export's `config.json`, the folder's
/// tokenizer, or (last) the id below the mask, as `pgm sample` assumes.
public enum ModelEvaluation {
  public struct Result: Codable {
    public var model: String
    public var valNLL: Double?
    public var valPPL: Double?
    public var rows: [EvaluationRow]
    /// What was measured on what, and what was skipped and why.
    public var notes: [String]
    enum CodingKeys: String, CodingKey { case model, valNLL = "val_nll", valPPL = "val_ppl", rows, notes }
  }

  /// The evaluator trained in the model's run folder, when the model was saved before it existed
  /// (`pgm pretrain` trains the teacher first, then the evaluator).
  static func runEvaluator(_ provenance: ModelProvenance?) -> String? {
    guard let run = provenance?.run else { return nil }
    let model = RunFolder(root: URL(fileURLWithPath: run)).evaluator.appendingPathComponent(TrainingFiles.averageFolder)
    return FileManager.default.fileExists(atPath: model.appendingPathComponent(ModelFolder.configFile).path) ? model.path : nil
  }

  /// Rows drawn from a Markov source for the validation NLL when the token file is gone.
  static let sourceValidationRows = 256

  public static func run(model dir: URL, steps: [Int], samples: Int, batch: Int, seed: UInt64, data: URL?,
                         evaluator: URL?, variants: [SamplerVariant], log: @escaping (String) -> Void) throws -> Result {
    let config = try ModelFolder.readConfig(dir.appendingPathComponent(ModelFolder.configFile))
    try ResourceEstimate.require(memory: [("evaluating --samples \(samples) at --batch \(batch)",
                                           ResourceEstimate.samplingBytes(config, count: samples, batch: batch))], disk: [], at: dir)
    let network = try ModelFolder.load(dir).requireDenoiser("pgm eval")
    let provenance = ModelProvenance.read(dir)
    var notes: [String] = []
    func note(_ text: String) { notes.append(text); log("eval: " + text) }
    let fm = FileManager.default

    var dataset: TokenDataset?
    if let data {
      dataset = try TokenDataset(path: data.path, expectedLength: config.length)
    } else if let recorded = provenance?.dataset {
      if fm.fileExists(atPath: recorded) {
        dataset = try TokenDataset(path: recorded, expectedLength: config.length)
      } else {
        note("the recorded token dataset \(recorded) is not there")
      }
    }
    if let dataset, dataset.modelVocabularySize != config.vocabSize {
      throw RecipeError.invalid("eval", "the data has \(dataset.modelVocabularySize) tokens with the mask, the model \(config.vocabSize)")
    }
    let exported = try? ExportedFacts.read(dir.appendingPathComponent(ModelFolder.configFile))
    let markovURL = dir.appendingPathComponent(ModelFolder.markovSourceFile)

    var measure: QualityMeasure = .none
    var bos: Int32
    var validation: BatchSource?
    if let dataset {
      bos = dataset.attributes.bosId
      validation = DatasetSplitSource(dataset, .validation)
      if dataset.attributes.kind == .synthetic {
        measure = .markov(try dataset.markovSource())
      } else {
        measure = try evaluatorMeasure(evaluator, provenance, eos: dataset.attributes.eosId, note: note)
      }
    } else if data == nil, fm.fileExists(atPath: markovURL.path) {
      let source = try MarkovSourceJSON.read(markovURL)
      guard source.symbols + 2 == config.vocabSize else {
        throw RecipeError.invalid("eval", "\(markovURL.path) has \(source.symbols) symbols (+ BOS + mask), the model \(config.vocabSize) tokens")
      }
      measure = .markov(source)
      bos = source.bos
      var rng = RandomStream(seed: seed).derive("validation rows from the Markov source")
      validation = MemoryRows(source.sample(count: sourceValidationRows, length: config.length, rng: &rng), length: config.length)
      note("no token dataset: exact metrics from \(ModelFolder.markovSourceFile); validation NLL on \(sourceValidationRows) "
           + "rows drawn from the source (not the dataset's validation split)")
    } else {
      let tokenizer = ModelFolder.tokenizerFiles(in: dir).isEmpty ? nil : try? TokenizerLoader.load(dir)
      if let id = exported?.tokens.bosId {
        bos = id
      } else if let id = tokenizer?.bos {
        bos = id
      } else {
        bos = Int32(config.maskIndex - 1)
        note("BOS id not recorded: assuming \(bos), the id below the mask")
      }
      measure = try evaluatorMeasure(evaluator, provenance, eos: exported?.tokens.eosId ?? tokenizer?.eos, note: note)
      note("validation NLL skipped: no token dataset (the recorded one is gone or none was recorded; pass --data F.h5)")
    }

    let evaluation = SampleEvaluation(measure: measure, samples: samples, batch: batch, bos: bos)
    var rows: [EvaluationRow] = []
    for s in steps {
      for variant in variants {
        log("eval: \(s) steps, \(variant), \(samples) samples …")
        rows.append(try evaluation.evaluate(network, name: dir.lastPathComponent, round: provenance?.round, steps: s,
                                            variant: variant, seed: seed))
      }
    }
    let val = try validation.flatMap { source in
      try TrainingObjective.validationNLL(network: network.network, source: source, rows: 256, batchSize: 32, seed: seed)
    }
    return Result(model: dir.path, valNLL: val, valPPL: val.map(exp), rows: rows, notes: notes)
  }

  /// Generative perplexity under the evaluator given, recorded (while it exists) or trained in
  /// the model's run; otherwise none, with a note.
  static func evaluatorMeasure(_ given: URL?, _ provenance: ModelProvenance?, eos: Int32?,
                               note: (String) -> Void) throws -> QualityMeasure {
    var path = given?.path
    if path == nil, let recorded = provenance?.evaluator {
      if FileManager.default.fileExists(atPath: recorded) { path = recorded } else { note("the recorded evaluator \(recorded) is not there") }
    }
    if path == nil { path = runEvaluator(provenance) }
    guard let path else {
      note("no evaluator for this text model (train one with the recipe's 'evaluator' section or pass --evaluator): "
           + "reporting entropy and speed only")
      return .none
    }
    let ar = try ModelFolder.load(URL(fileURLWithPath: path)).requireAutoregressive("the evaluator \(path)")
    return .evaluator(ar, eos: eos)
  }
}

/// Rows held in memory (rows drawn from a Markov source).
final class MemoryRows: BatchSource {
  let rows: [[Int32]]
  let length: Int
  init(_ rows: [[Int32]], length: Int) { self.rows = rows; self.length = length }
  var rowCount: Int { rows.count }
  func read(rows indices: [Int], into buffer: inout [Int32]) throws {
    if buffer.count < indices.count * length { buffer += [Int32](repeating: 0, count: indices.count * length - buffer.count) }
    for (i, r) in indices.enumerated() { buffer.replaceSubrange((i * length)..<((i + 1) * length), with: rows[r]) }
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
