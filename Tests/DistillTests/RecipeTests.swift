import Distill
import Foundation
import Testing

@Suite struct RecipeTests {
  static let base = """
  { "name": "r", "seed": 1,
    "data": { "synthetic": { "vocab": 8, "branching": 2, "length": 16, "sequences": 64, "validation": 16 } },
    "model": { "kind": "pgm", "hidden_size": 16, "n_heads": 2, "encoder_blocks": 1, "decoder_blocks": 1 },
    "pretrain": { "steps": 2, "batch_size": 4 },
    "distill": { "rounds": 3, "s0": S0, "targets_per_round": 8, "top_k": K,
                 "student": { "steps": 2, "batch_size": 4 } } }
  """

  func load(_ text: String) throws -> Recipe {
    let url = scratchDirectory("recipe").appendingPathComponent("r.json")
    try Data(text.utf8).write(to: url)
    return try Recipe.load(url)
  }

  @Test func impossibleScheduleIsRefused() throws {
    #expect { _ = try load(Self.base.replacingOccurrences(of: "S0", with: "12").replacingOccurrences(of: "K", with: "4")) }
      throws: { "\($0)".contains("impossible schedule") && "\($0)".contains("not divisible") }
    let ok = try load(Self.base.replacingOccurrences(of: "S0", with: "16").replacingOccurrences(of: "K", with: "4"))
    #expect(ok.distill!.studentSteps(round: 3) == 2)
  }

  @Test func malformedRecipesNameTheProblem() {
    #expect { _ = try load("{ \"name\": \"x\" }") } throws: { "\($0)".contains("missing field") }
    #expect { _ = try load("not json") } throws: { "\($0)".contains("recipe") }
    #expect { _ = try load(Self.base.replacingOccurrences(of: "S0", with: "16").replacingOccurrences(of: "\"K\"", with: "4")
                .replacingOccurrences(of: "K", with: "0")) } throws: { "\($0)".contains("top_k") }
  }
}
