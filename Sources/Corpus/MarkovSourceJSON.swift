import Foundation

/// A Markov source as JSON: the form exported model folders carry (`markov_source.json`), so
/// that samples of a synthetic-data model can be scored exactly without its token file, and so
/// that a Python user can read the source with `json.load`.
///
/// ```
/// { "format": "pgm-markov-source", "version": 1,
///   "symbols": V, "branching": B, "order": 1|2, "length": L, "seed": …, "floor": λ,
///   "bos_id": V,                       // rows are [BOS, x1, …, x(L-1)]; the model's mask is V + 1
///   "successors": [[…B ids…], …],      // one row per context (order 2: context a·V + b)
///   "probabilities": [[…B…], …],       // their probabilities, rows sum to 1
///   "stationary": […contexts…],        // stationary distribution over contexts
///   "entropy_rate": …, "expected_nll": …, "expected_sample_entropy": …,   // nats, for reading
///   "description": "…" }
/// ```
/// Numbers are written so that they read back bit for bit (`MarkovSource` compares equal).
public enum MarkovSourceJSON {
  static let format = "pgm-markov-source"
  static let version = 1

  struct Document: Codable {
    var format: String
    var version: Int
    var symbols: Int
    var branching: Int
    var order: Int
    var length: Int
    var seed: UInt64
    var floor: Double
    var bosId: Int
    var successors: [[Int32]]
    var probabilities: [[Double]]
    var stationary: [Double]
    var entropyRate: Double?
    var expectedNLL: Double?
    var expectedSampleEntropy: Double?
    var description: String?

    enum CodingKeys: String, CodingKey {
      case format, version, symbols, branching, order, length, seed, floor, bosId = "bos_id", successors, probabilities
      case stationary, entropyRate = "entropy_rate", expectedNLL = "expected_nll"
      case expectedSampleEntropy = "expected_sample_entropy", description
    }
  }

  public static func encode(_ source: MarkovSource) throws -> Data {
    let b = source.branching
    let rows = (0..<source.contexts)
    let document = Document(
      format: format, version: version, symbols: source.symbols, branching: b, order: source.order, length: source.length,
      seed: source.seed, floor: source.floor, bosId: Int(source.bos),
      successors: rows.map { Array(source.successors[($0 * b)..<(($0 + 1) * b)]) },
      probabilities: rows.map { Array(source.probabilities[($0 * b)..<(($0 + 1) * b)]) },
      stationary: source.stationary, entropyRate: source.entropyRate, expectedNLL: source.expectedNLL(),
      expectedSampleEntropy: source.sampleEntropy,
      description: "A sparse order-\(source.order) Markov source over the symbols 0..\(source.symbols - 1): each context "
        + "(order 1: the previous symbol; order 2: the previous two, index a*V + b) allows the \(b) successors listed under "
        + "'successors' with the probabilities under 'probabilities'; every other transition is forbidden. Rows are "
        + "[BOS, x1, ..., x(L-1)] with BOS = \(source.bos), the first context drawn from 'stationary'. Entropies in nats.")
    let encoder = JSONEncoder()
    encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
    return try encoder.encode(document)
  }

  public static func decode(_ data: Data, path: String) throws -> MarkovSource {
    func bad(_ reason: String) -> CorpusError { .malformedMarkovSource(path: path, reason: reason) }
    let document: Document
    do { document = try JSONDecoder().decode(Document.self, from: data) } catch {
      throw bad("not a Markov source in JSON (\(error))")
    }
    guard document.format == format, document.version == version else {
      throw bad("format '\(document.format)' version \(document.version); this program reads '\(format)' version \(version)")
    }
    guard document.bosId == document.symbols else { throw bad("bos_id \(document.bosId) is not the symbol count \(document.symbols)") }
    guard document.successors.allSatisfy({ $0.count == document.branching }),
          document.probabilities.allSatisfy({ $0.count == document.branching }) else {
      throw bad("a context does not list \(document.branching) successors and probabilities")
    }
    return try MarkovSourceFile.checked(
      symbols: document.symbols, branching: document.branching, order: document.order, length: document.length,
      seed: document.seed, floor: document.floor, successors: document.successors.flatMap { $0 },
      probabilities: document.probabilities.flatMap { $0 }, stationary: document.stationary,
      sampleEntropy: document.expectedSampleEntropy, path: path)
  }

  public static func read(_ url: URL) throws -> MarkovSource {
    let data: Data
    do { data = try Data(contentsOf: url) } catch { throw CorpusError.fileNotFound(path: url.path) }
    return try decode(data, path: url.path)
  }
}
