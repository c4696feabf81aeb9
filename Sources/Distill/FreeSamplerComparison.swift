import Corpus
import Foundation
import Teacher

/// The honest comparison of a report: at a student's step count, the student with its best
/// sampler against the teacher with its best free sampler, both among the variants whose samples
/// keep their diversity — per-sample entropy at least the data's minus `entropyTolerance`. A
/// lower entropy buys quality for free (nucleus, greedy choices), so a gain counts only at equal
/// diversity.
public struct SamplerComparison: Codable, Sendable {
  public struct Pick: Codable, Sendable {
    public var model: String
    public var sampler: SamplerVariant
    public var value: Double
    public var se: Double
    public var entropy: Double
  }

  public var steps: Int
  public var round: Int
  /// The data's per-sample entropy (synthetic: the source's; text: the validation rows').
  public var referenceEntropy: Double
  public var entropyTolerance: Double
  public var teacher: Pick?
  public var student: Pick?
  /// 1 − student/teacher (lower quality numbers are better), and its standard error.
  public var gain: Double?
  public var gainSE: Double?

  enum CodingKeys: String, CodingKey {
    case steps, round, referenceEntropy = "reference_entropy", entropyTolerance = "entropy_tolerance", teacher, student
    case gain, gainSE = "gain_se"
  }

  public static let entropyTolerance = 0.05

  /// The best eligible row (lowest headline value) among `rows`.
  static func best(_ rows: [EvaluationRow], referenceEntropy: Double, tolerance: Double) -> Pick? {
    rows.filter { $0.entropy >= referenceEntropy - tolerance && $0.headline != nil }
      .min { $0.headline!.value < $1.headline!.value }
      .map { Pick(model: $0.model, sampler: $0.sampler, value: $0.headline!.value, se: $0.headline!.se, entropy: $0.entropy) }
  }

  /// The comparison at `steps` between round `round`'s student and the teacher (round 0).
  static func compare(_ rows: [EvaluationRow], steps: Int, round: Int, referenceEntropy: Double,
                      tolerance: Double = entropyTolerance) -> SamplerComparison {
    let at = rows.filter { $0.steps == steps }
    let teacher = best(at.filter { $0.round == 0 }, referenceEntropy: referenceEntropy, tolerance: tolerance)
    let student = best(at.filter { $0.round == round }, referenceEntropy: referenceEntropy, tolerance: tolerance)
    var c = SamplerComparison(steps: steps, round: round, referenceEntropy: referenceEntropy, entropyTolerance: tolerance,
                              teacher: teacher, student: student)
    if let t = teacher, let s = student, t.value > 0 {
      let ratio = s.value / t.value
      c.gain = 1 - ratio
      // Delta method for a ratio of independent estimates.
      c.gainSE = ratio * ((s.se / max(s.value, 1e-12)) * (s.se / max(s.value, 1e-12)) + (t.se / t.value) * (t.se / t.value)).squareRoot()
    }
    return c
  }

  /// The markdown section: one line per comparison.
  static func markdown(_ comparisons: [SamplerComparison], metric: String) -> String {
    guard let first = comparisons.first else { return "" }
    var s = "## Against the teacher's best free sampler\n\n"
    s += "At each student's step count: the lowest \(metric) among sampler variants whose per-sample entropy is at least "
    s += String(format: "the data's (%.3f) minus %.2f nats. Free variants: ", first.referenceEntropy, first.entropyTolerance)
    s += SamplerVariant.freeGrid.map(\.description).joined(separator: ", ") + ".\n\n"
    s += "| steps | teacher's best sampler | \(metric) | entropy | student | its best sampler | \(metric) | entropy | gain |\n"
    s += "|---:|---|---:|---:|---|---|---:|---:|---:|\n"
    func pick(_ p: Pick?) -> String {
      guard let p else { return "none eligible | – | –" }
      return "\(p.sampler) | " + String(format: "%.4f ± %.4f | %.3f", p.value, p.se, p.entropy)
    }
    for c in comparisons {
      let gain = c.gain.map { String(format: "**%+.1f%%** ± %.1f", 100 * $0, 100 * (c.gainSE ?? 0)) } ?? "–"
      s += "| \(c.steps) | \(pick(c.teacher)) | round \(c.round) | \(pick(c.student)) | \(gain) |\n"
    }
    return s + "\n"
  }
}

extension TokenDataset {
  /// Mean per-sample unigram entropy of the first `rows` validation rows (BOS left out): the
  /// diversity a text model's samples should keep.
  func validationEntropy(rows: Int = 1024) throws -> Double? {
    let n = min(rows, rowCount(.validation))
    guard n > 0 else { return nil }
    let data = try self.rows(.validation, 0..<n)
    return MeanAndError(data.map { SampleMetrics.unigramEntropy($0.dropFirst()) }).mean
  }
}
