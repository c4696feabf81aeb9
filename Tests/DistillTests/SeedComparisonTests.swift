import Distill
import Foundation
import Testing

/// `pgm compare`: finished runs side by side, the gain across runs, and clear refusals.
@Suite struct SeedComparisonTests {
  static let quickstart = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
    .deletingLastPathComponent().appendingPathComponent("runs/quickstart.json")

  /// A run folder with the quickstart recipe at `seed` and a report whose one comparison has the
  /// given teacher and student values (student nil: none eligible).
  func run(_ root: URL, _ name: String, seed: Int, teacher: Double, student: Double?, metric: String = "forbidden-transition rate") throws -> URL {
    let dir = root.appendingPathComponent(name)
    try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
    let recipe = try String(contentsOf: Self.quickstart, encoding: .utf8)
      .replacingOccurrences(of: #""seed": 1,"#, with: "\"seed\": \(seed),")
    try Data(recipe.utf8).write(to: dir.appendingPathComponent("recipe.json"))
    let variant = #"{"greedy_tail": true, "noise": 0, "order": "random", "sampler": "uniform", "top_p": 1}"#
    func pick(_ model: String, _ value: Double) -> String {
      #"{"model": "\#(model)", "sampler": \#(variant), "value": \#(value), "se": 0.001, "entropy": 3.41}"#
    }
    let gain = student.map { ", \"gain\": \(1 - $0 / teacher), \"gain_se\": 0.005" } ?? ""
    let report = """
      {"name": "quickstart", "s0": 4, "rounds": 1, "k": 2, "metric": "\(metric)", "models": [], "rows": [],
       "reference_entropy": 3.445, "timings": [],
       "comparisons": [{"steps": 2, "round": 1, "reference_entropy": 3.445, "entropy_tolerance": 0.05,
                        "teacher": \(pick("teacher", teacher))\(student.map { ", \"student\": " + pick("round 1", $0) } ?? "")\(gain)}]}
      """
    try Data(report.utf8).write(to: dir.appendingPathComponent("report.json"))
    return dir
  }

  @Test func summarisesTheGainAcrossSeeds() throws {
    let root = scratchDirectory("compare")
    let runs = [try run(root, "a", seed: 5, teacher: 0.4, student: 0.28), try run(root, "b", seed: 6, teacher: 0.4, student: 0.32),
                try run(root, "c", seed: 7, teacher: 0.4, student: nil)]
    let comparison = try SeedComparison(runs: runs)
    #expect(comparison.lines.map(\.seed) == [5, 6, 7])
    let summaries = comparison.summaries(goal: 0.25)
    #expect(summaries.count == 1)
    let s = try #require(summaries.first)
    #expect(s.runs == 3 && s.noneEligible == 1 && s.reachingGoal == 1)
    #expect(abs(s.meanGain! - 0.25) < 1e-9)          // gains 0.30 and 0.20
    #expect(abs(s.meanGainSE! - 0.05) < 1e-9)        // sd 0.0707 over √2
    #expect(abs(s.minimumGain! - 0.20) < 1e-9)
    let text = comparison.markdown(goal: 0.25)
    #expect(text.contains("| 7 | 2 | greedy-tail | 0.4000 ± 0.0010 | 3.410 | none eligible | – | – | – |"), "\(text)")
    #expect(text.contains("mean gain +25.0% ± 5.0 across runs, lowest +20.0%; 1 without an eligible student; 1 of 3 at or above +25.0%"), "\(text)")
  }

  @Test func refusesUnfinishedOrMixedRuns() throws {
    let root = scratchDirectory("compare-bad")
    let done = try run(root, "done", seed: 1, teacher: 0.4, student: 0.3)
    let unfinished = root.appendingPathComponent("unfinished")
    try FileManager.default.createDirectory(at: unfinished, withIntermediateDirectories: true)
    #expect { try SeedComparison(runs: [done, unfinished]) } throws: { "\($0)".contains("has no report.json") }
    let text = try run(root, "text", seed: 2, teacher: 20, student: 18, metric: "Gen PPL")
    #expect { try SeedComparison(runs: [done, text]) } throws: { "\($0)".contains("compare runs of one kind of data") }
    try Data("{ not json".utf8).write(to: unfinished.appendingPathComponent("report.json"))
    #expect { try SeedComparison(runs: [unfinished]) } throws: { "\($0)".contains("is not a report this version reads") }
  }
}
