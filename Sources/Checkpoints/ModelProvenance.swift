import Formats
import Foundation

/// Where a model folder came from (`provenance.json`, optional): the token dataset it was trained
/// on and, for text, the evaluator trained on the same corpus — so that `pgm eval --model DIR`
/// finds them without flags. Paths are absolute.
public struct ModelProvenance: Codable, Sendable, Equatable {
  public var dataset: String?
  public var evaluator: String?
  public var run: String?
  /// 0 = the pretrained teacher, r = the student of SDTT round r.
  public var round: Int?
  public var weights: WeightChoice?

  public init(dataset: String? = nil, evaluator: String? = nil, run: String? = nil, round: Int? = nil,
              weights: WeightChoice? = nil) {
    self.dataset = dataset; self.evaluator = evaluator; self.run = run; self.round = round; self.weights = weights
  }

  public static let fileName = "provenance.json"

  public static func read(_ dir: URL) -> ModelProvenance? {
    guard let data = try? Data(contentsOf: dir.appendingPathComponent(fileName)) else { return nil }
    return try? JSONDecoder().decode(ModelProvenance.self, from: data)
  }

  public func write(to dir: URL) throws {
    let enc = JSONEncoder()
    enc.outputFormatting = [.prettyPrinted, .sortedKeys]
    try AtomicFile.write(try enc.encode(self), to: dir.appendingPathComponent(ModelProvenance.fileName))
  }
}
