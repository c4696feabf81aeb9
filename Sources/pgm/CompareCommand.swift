import ArgumentParser
import Distill
import Foundation

/// `pgm compare RUN…`: finished runs side by side (one recipe on several seeds, or several recipes).
struct CompareCommand: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "compare",
    abstract: "Finished runs side by side: each run's student against the teacher's best free sampler, and the gain across runs.",
    discussion: """
      Reads each run folder's report.json and recipe.json (nothing is written). One line per run and step count:
      the teacher's best free sampler and the student's best sampler, both among variants whose per-sample entropy
      is at least the data's minus 0.05 nats, and the gain. Then per recipe and step count: the mean gain with its
      standard error across runs, the lowest, and (with --goal) how many runs reach the goal. Judge a recipe on
      seeds it was not tuned on.
      """)

  @Argument(help: "Run folders (each with report.json and recipe.json).")
  var runs: [String]

  @Option(help: "A gain to count runs against, in percent (e.g. 25).")
  var goal: Double?

  @Flag(help: "Print JSON (lines and summaries) instead of markdown.")
  var json = false

  func validate() throws {
    if let goal, !goal.isFinite { throw ValidationError("--goal takes a number of percent, e.g. 25") }
  }

  struct Document: Encodable {
    var metric: String
    var lines: [SeedComparison.Line]
    var summaries: [SeedComparison.Summary]
  }

  func run() throws {
    try reportingErrors {
      let comparison = try SeedComparison(runs: runs.map { URL(fileURLWithPath: $0) })
      let fraction = goal.map { $0 / 100 }
      if json {
        print(try Output.json(Document(metric: comparison.metric, lines: comparison.lines, summaries: comparison.summaries(goal: fraction))))
      } else {
        print(comparison.markdown(goal: fraction), terminator: "")
      }
    }
  }
}
