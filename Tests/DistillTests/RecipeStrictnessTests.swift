import Distill
import Networks
import Foundation
import Testing

/// Recipes are read strictly: unknown keys are named with the nearest known one, numbers of the
/// wrong kind name the field and what it expects, and sizes the machine cannot hold are refused
/// before anything is created or allocated.
@Suite struct RecipeStrictnessTests {
  func load(_ text: String) throws -> Recipe {
    let dir = scratchDirectory("strict")
    let url = dir.appendingPathComponent("r.json")
    try Data(text.utf8).write(to: url)
    return try Recipe.load(url)
  }

  func refusal(_ text: String) -> String {
    do { _ = try load(text); return "accepted" } catch { return "\(error)" }
  }

  @Test func unknownAndMisspelledKeysAreNamed() {
    let lr = refusal(microRecipe.replacingOccurrences(of: "\"lr\": 2e-3", with: "\"learning_rate\": 2e-3"))
    #expect(lr.contains("unknown key 'pretrain.optimizer.learning_rate'") && lr.contains("did you mean 'pretrain.optimizer.lr'"), "\(lr)")
    let hidden = refusal(microRecipe.replacingOccurrences(of: "\"hidden_size\"", with: "\"hiden_size\""))
    #expect(hidden.contains("model.hidden_size") && hidden.contains("'hiden_size'"), "\(hidden)")
    let step = refusal(microRecipe.replacingOccurrences(of: "\"steps\": 2, \"batch_size\": 4, \"optimizer\": { \"lr\": 1e-3",
                                                        with: "\"step\": 2, \"batch_size\": 4, \"optimizer\": { \"lr\": 1e-3"))
    #expect(step.contains("distill.student.steps") && step.contains("'step'"), "\(step)")
    let top = refusal(microRecipe.replacingOccurrences(of: "\"seed\": 3,", with: "\"seed\": 3, \"distil\": {},"))
    #expect(top.contains("unknown key 'distil'") && top.contains("did you mean 'distill'"), "\(top)")
    let misplaced = refusal(microRecipe.replacingOccurrences(of: "\"checkpoint_every\": 2,", with: "\"checkpoint_every\": 2, \"warmup_steps\": 3,"))
    #expect(misplaced.contains("unknown key 'pretrain.warmup_steps'") && misplaced.contains("optimizer.warmup_steps"), "\(misplaced)")
  }

  @Test func numbersOfTheWrongKindNameTheField() {
    let fraction = refusal(microRecipe.replacingOccurrences(of: "\"steps\": 4,", with: "\"steps\": 60.5,"))
    #expect(fraction.contains("field 'pretrain.steps': expected a whole number, got 60.5"), "\(fraction)")
    let negative = refusal(microRecipe.replacingOccurrences(of: "\"seed\": 3", with: "\"seed\": -1"))
    #expect(negative.contains("field 'seed'") && negative.contains("≥ 0"), "\(negative)")
    let text = refusal(microRecipe.replacingOccurrences(of: "\"top_k\": 3", with: "\"top_k\": \"3\""))
    #expect(text.contains("field 'distill.top_k': expected a whole number, got a string"), "\(text)")
    let kind = refusal(microRecipe.replacingOccurrences(of: "\"kind\": \"pgm\"", with: "\"kind\": \"pgmm\""))
    #expect(kind.contains("model.kind") && kind.contains("'pgmm'"), "\(kind)")
    let broken = refusal("{ \"name\": \"x\",\n  \"seed\": }")
    #expect(broken.contains("not valid JSON") && broken.contains("line 2"), "\(broken)")
    // An integer written with an exponent is still an integer.
    #expect(refusal(microRecipe.replacingOccurrences(of: "\"sequences\": 48", with: "\"sequences\": 4.8e1")) == "accepted")
  }

  /// Sizes that would abort with "failed to allocate", trap on an overflow or start a 128 TB
  /// dataset are refused with the figure, before the run folder exists.
  @Test(arguments: [
    ("\"hidden_size\": 8", "\"hidden_size\": 65536", "memory"),
    ("\"hidden_size\": 8", "\"hidden_size\": 1000000000", "memory"),
    ("\"hidden_size\": 8", "\"hidden_size\": 4611686018427387904", "memory"),
    ("\"steps\": 4, \"batch_size\": 4", "\"steps\": 4, \"batch_size\": 1000000000", "memory"),
    ("\"length\": 8", "\"length\": 1000000000", "of"),
    ("\"samples\": 4", "\"samples\": 1000000000000", "memory"),
    ("\"sequences\": 48", "\"sequences\": 1000000000000", "of"),
    ("\"targets_per_round\": 12", "\"targets_per_round\": 1000000000000000", "disk"),
  ])
  func absurdSizesAreRefusedBeforeAnything(_ from: String, _ to: String, _ resource: String) throws {
    let scratch = scratchDirectory("absurd")
    defer { try? FileManager.default.removeItem(at: scratch) }
    let text = microRecipe.replacingOccurrences(of: from, with: to)
    #expect(text != microRecipe)
    #expect { try runMicro(scratch, recipe: text) } throws: { error in
      let s = "\(error)"
      return s.contains("refused before starting") && s.contains(resource) && s.contains("available")
    }
    #expect(!FileManager.default.fileExists(atPath: scratch.appendingPathComponent("run").path))
  }

  /// `pgm sample --count 1000000000000` and `pgm eval --samples …` are refused the same way.
  @Test func samplingBeyondMemoryIsRefused() throws {
    let config = ModelConfig(kind: .pgm, vocabSize: 66, hiddenSize: 128, heads: 4, condDim: 64, length: 64,
                                 encoderBlocks: 3, decoderBlocks: 3)
    let fits = ResourceEstimate.samplingBytes(config, count: 1024, batch: 128)
    try ResourceEstimate.require(memory: [("sampling", fits)], disk: [], at: scratchDirectory("sample-fit"))
    #expect {
      try ResourceEstimate.require(memory: [("sampling --count 1000000000000", ResourceEstimate.samplingBytes(config, count: 1_000_000_000_000, batch: 1))],
                                   disk: [], at: scratchDirectory("sample-big"))
    } throws: { "\($0)".contains("sampling --count 1000000000000 needs about") && "\($0)".contains("TB of memory") }
  }

  /// Under mpirun, a setting that cannot split its batches is refused before any work (not after
  /// pretraining, when the student's round would first meet it); the same recipe passes on one process.
  @Test func reinforceIsRefusedOnSeveralProcesses() throws {
    let url = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
      .appendingPathComponent("runs/quickstart.json")
    let text = try String(contentsOf: url, encoding: .utf8).replacingOccurrences(of: "\"marginal\": 3", with: "\"marginal\": 3, \"reinforce\": 1")
    let recipe = try load(text)
    #expect(recipe.distill?.dmmd?.reinforce == 1)
    let run = RunFolder(root: scratchDirectory("reinforce-mpi"))
    try RunPreflight.check(recipe, run: run, needsDistill: true, processes: 1)
    #expect { try RunPreflight.check(recipe, run: run, needsDistill: true, processes: 2) } throws: {
      "\($0)".contains("reinforce > 0 runs on one process only")
    }
    try RunPreflight.check(try load(String(contentsOf: url, encoding: .utf8)), run: run, needsDistill: true, processes: 2)
  }

  /// Every recipe under runs/ parses strictly, the text ones included (their preflight needs the
  /// fetched texts, so only the synthetic ones run it below).
  @Test func everyProvidedRecipeLoads() throws {
    let runs = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
      .appendingPathComponent("runs")
    let names = try FileManager.default.contentsOfDirectory(atPath: runs.path).filter { $0.hasSuffix(".json") }.sorted()
    #expect(names.contains("shakespeare-dmmd.json") && names.count >= 7, "recipes found: \(names)")
    for name in names {
      #expect(throws: Never.self, "runs/\(name)") { _ = try Recipe.load(runs.appendingPathComponent(name)) }
    }
  }

  /// The provided recipes pass the same checks on this machine.
  @Test(arguments: ["quickstart.json", "quickstart-sdtt.json", "quickstart-dmmd.json", "synthetic-teacher.json"])
  func providedRecipesFit(_ name: String) throws {
    let url = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
      .appendingPathComponent("runs/\(name)")
    let recipe = try Recipe.load(url)
    try RunPreflight.check(recipe, run: RunFolder(root: scratchDirectory("fit")), needsDistill: false)
  }
}
