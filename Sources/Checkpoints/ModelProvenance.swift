import Formats
import Foundation

/// Where a model folder came from (`provenance.json`, optional): the token dataset it was trained
/// on and, for text, the evaluator trained on the same corpus — so that `pgm eval --model DIR`
/// finds them without flags. Paths are absolute, or relative to the model folder (a run folder's
/// models point into their own run that way, so the folder can be moved or copied whole).
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
    guard let data = try? Data(contentsOf: dir.appendingPathComponent(fileName)),
          var p = try? JSONDecoder().decode(ModelProvenance.self, from: data) else { return nil }
    func resolve(_ path: String?) -> String? {
      guard let path, !path.hasPrefix("/") else { return path }
      return dir.appendingPathComponent(path).standardizedFileURL.path
    }
    p.dataset = resolve(p.dataset); p.evaluator = resolve(p.evaluator); p.run = resolve(p.run)
    return p
  }

  /// The same provenance with every path under `root` written relative to `dir` (the model folder
  /// the file goes into); paths elsewhere stay absolute.
  public func relative(to dir: URL, within root: URL) -> ModelProvenance {
    let base = root.standardizedFileURL.path
    let from = dir.standardizedFileURL.pathComponents
    func rel(_ path: String?) -> String? {
      guard let path, path.hasPrefix("/") else { return path }
      let target = URL(fileURLWithPath: path).standardizedFileURL
      guard target.path == base || target.path.hasPrefix(base + "/") else { return path }
      let to = target.pathComponents
      var common = 0
      while common < min(from.count, to.count) && from[common] == to[common] { common += 1 }
      let parts = Array(repeating: "..", count: from.count - common) + to[common...]
      return parts.isEmpty ? "." : parts.joined(separator: "/")
    }
    var p = self
    p.dataset = rel(dataset); p.evaluator = rel(evaluator); p.run = rel(run)
    return p
  }

  public func write(to dir: URL) throws {
    let enc = JSONEncoder()
    enc.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
    try AtomicFile.write(try enc.encode(self), to: dir.appendingPathComponent(ModelProvenance.fileName))
  }
}
