import Distill
import Foundation
import Testing

/// The on-policy method's seed tokens end to end: a recipe that asks for them without rows at
/// t = 1 is refused; a micro run trains with them and its report samples every student with them
/// (and never the teacher).
@Suite struct SeedTokenRecipeTests {
  static let seeded = microRecipe.replacingOccurrences(
    of: "\"distill\": { \"rounds\": 2, \"s0\": 8,",
    with: "\"distill\": { \"method\": \"dmmd\", \"dmmd\": { \"seed_tokens\": true }, \"times\": \"student_grid\", \"rounds\": 1, \"s0\": 8,")

  @Test func seedTokensNeedTheStudentGrid() throws {
    #expect(Self.seeded != microRecipe)
    let url = scratchDirectory("seed-recipe").appendingPathComponent("r.json")
    try Data(Self.seeded.replacingOccurrences(of: "\"times\": \"student_grid\", ", with: "").utf8).write(to: url)
    #expect { try Recipe.load(url) } throws: { "\($0)".contains("seed_tokens") && "\($0)".contains("student_grid") }
  }

  @Test func reportSamplesStudentsWithTheirSeeds() throws {
    let dir = scratchDirectory("seed-run")
    try runMicro(dir, recipe: Self.seeded)
    let report = try JSONSerialization.jsonObject(with: Data(contentsOf: dir.appendingPathComponent("run/report.json"))) as! [String: Any]
    let rows = report["rows"] as! [[String: Any]]
    let students = rows.filter { ($0["round"] as! Int) > 0 }, teachers = rows.filter { ($0["round"] as! Int) == 0 }
    #expect(!students.isEmpty && !teachers.isEmpty)
    #expect(students.allSatisfy { ($0["sampler"] as! [String: Any])["seed_tokens"] as? Bool == true })
    #expect(teachers.allSatisfy { ($0["sampler"] as! [String: Any])["seed_tokens"] == nil })
    let card = try String(contentsOf: dir.appendingPathComponent("run/export/README.md"), encoding: .utf8)
    #expect(card.contains("--seed-tokens"), "the exported card says how to sample the student")
  }
}
