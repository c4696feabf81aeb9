import Checkpoints
import Distill
import Engine
import Foundation
import Networks
import Teacher
import Testing

/// A complete run small enough for a debug test: data, teacher, 2 rounds, report, export.
let tinyRecipe = """
{ "name": "tiny", "seed": 5,
  "data": { "synthetic": { "vocab": 10, "branching": 2, "length": 16, "sequences": 256, "validation": 32 } },
  "model": { "kind": "pgm", "hidden_size": 16, "n_heads": 2, "cond_dim": 8, "encoder_blocks": 1, "decoder_blocks": 1, "dropout": 0.1 },
  "pretrain": { "steps": 12, "batch_size": 8, "optimizer": { "lr": 2e-3, "warmup_steps": 2 }, "checkpoint_every": 4, "eval_rows": 16 },
  "distill": { "rounds": 2, "s0": 16, "targets_per_round": 48, "top_k": 6,
               "student": { "steps": 6, "batch_size": 8, "optimizer": { "lr": 1e-3, "warmup_steps": 2 }, "checkpoint_every": 2 } },
  "eval": { "steps": [4, 8], "samples": 16, "batch": 8 } }
"""

private let childRunVariable = "PGM_DISTILL_CHILD_RUN"

func runTiny(_ dir: URL, kind: String = "pgm") throws -> MainJob.Summary {
  let recipeURL = dir.appendingPathComponent("recipe-in.json")
  try Data(tinyRecipe.replacingOccurrences(of: "\"kind\": \"pgm\"", with: "\"kind\": \"\(kind)\"").utf8).write(to: recipeURL)
  let recipe = try Recipe.load(recipeURL)
  return try MainJob.run(recipe, folder: RunFolder(root: dir.appendingPathComponent("run")), log: { _ in })
}

func finalWeights(_ dir: URL) throws -> [[Float]] {
  var out: [[Float]] = []
  for folder in ["run/round-2/student/model", "run/round-2/student/model-raw", "run/round-1/student/model-raw"] {
    let net = try ModelFolder.load(dir.appendingPathComponent(folder))
    out += net.parameters.tensors.map { $0.toArray() }
  }
  return out
}

@Suite(.serialized) struct DistillRunTests {
  /// The child process of `killAndResumeReproducesTheUninterruptedRun`: runs the tiny job.
  @Test func distillChildRun() throws {
    guard let dir = ProcessInfo.processInfo.environment[childRunVariable] else { return }
    _ = try runTiny(URL(fileURLWithPath: dir))
  }

  /// `kill -9` at random moments (target generation, training, evaluation), then the same command
  /// again: the final students, the targets and the report's quality numbers equal those of an
  /// uninterrupted run.
  @Test func killAndResumeReproducesTheUninterruptedRun() throws {
    if ProcessInfo.processInfo.environment[childRunVariable] != nil { return }
    let straight = scratchDirectory("straight"), killed = scratchDirectory("killed")
    defer { try? FileManager.default.removeItem(at: straight); try? FileManager.default.removeItem(at: killed) }
    let reference = try runTiny(straight)
    // Each round records its time split, so a report written later (`pgm eval --recipe`) still has it.
    let timings = Distillation.recordedTimings(run: RunFolder(root: straight.appendingPathComponent("run")), rounds: 2)
    #expect(timings.map(\.round) == [1, 2] && timings.allSatisfy { $0.targetSeconds > 0 && $0.trainingSeconds > 0 })

    let executable = try FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")
    var rng = RandomStream(seed: 77)
    var kills = 0
    for _ in 0..<4 {
      let child = Process()
      child.executableURL = URL(fileURLWithPath: executable)
      child.arguments = ["--testing-library", "swift-testing", "--filter", "distillChildRun"]
      var env = ProcessInfo.processInfo.environment
      env[childRunVariable] = killed.path
      child.environment = env
      child.standardOutput = FileHandle.nullDevice
      child.standardError = FileHandle.nullDevice
      try child.run()
      let wait = 0.5 + 3 * rng.uniformDouble()
      let deadline = Date().addingTimeInterval(wait)
      while child.isRunning && Date() < deadline { usleep(20_000) }
      if child.isRunning { kill(child.processIdentifier, SIGKILL); kills += 1 }
      child.waitUntilExit()
    }
    let resumed = try runTiny(killed)
    #expect(kills >= 1, "at least one run was interrupted")
    #expect(try finalWeights(straight) == finalWeights(killed))
    for r in 1...2 {
      let a = try TargetReader(path: straight.appendingPathComponent("run/round-\(r)/targets.h5").path)
      let b = try TargetReader(path: killed.appendingPathComponent("run/round-\(r)/targets.h5").path)
      let rows = Array(0..<a.rowCount)
      let x = try a.batch(rows: rows), y = try b.batch(rows: rows)
      #expect(a.rowCount == b.rowCount && x.inputs == y.inputs && x.targets.logProbs == y.targets.logProbs)
    }
    func quality(_ r: EvaluationRow) -> String {
      guard case .markov(let m) = r.quality else { return "unmeasured" }
      return "\(r.model) \(r.steps) \(m.forbiddenRate) \(m.bigramTV) \(r.entropy)"
    }
    let q1 = reference.report.rows.map(quality), q2 = resumed.report.rows.map(quality)
    #expect(q1 == q2)
  }

  /// The exported student reloads here (from its export folder) and samples.
  @Test func exportReloadSample() throws {
    if ProcessInfo.processInfo.environment[childRunVariable] != nil { return }
    let dir = scratchDirectory("export")
    defer { try? FileManager.default.removeItem(at: dir) }
    let summary = try runTiny(dir)
    let exported = URL(fileURLWithPath: try #require(summary.exportPath))
    let card = try String(contentsOf: exported.appendingPathComponent("README.md"), encoding: .utf8)
    #expect(card.contains("forbidden rate"))
    let net = try ModelFolder.load(exported)
    let original = try ModelFolder.load(dir.appendingPathComponent("run/round-2/student/model"))
    #expect(net.parameters.tensors.map { $0.toArray() } == original.parameters.tensors.map { $0.toArray() })
    var rng = RandomStream(seed: 1)
    let samples = try makeSampler(for: net.requireDenoiser("test")).sample(count: 4, steps: 4, rng: &rng, options: SamplingOptions(bos: 10, batchSize: 4))
    #expect(samples.count == 4 && samples.allSatisfy { $0.count == 16 && $0[0] == 10 && !$0.contains(11) })
    for file in ["report.md", "report.json", "tradeoff.svg"] {
      #expect(FileManager.default.fileExists(atPath: dir.appendingPathComponent("run/\(file)").path))
    }
  }

  /// A target size beyond the vocabulary is refused before anything is trained.
  @Test func topKBeyondTheVocabularyIsRefused() throws {
    if ProcessInfo.processInfo.environment[childRunVariable] != nil { return }
    let dir = scratchDirectory("topk")
    defer { try? FileManager.default.removeItem(at: dir) }
    let url = dir.appendingPathComponent("r.json")
    try Data(tinyRecipe.replacingOccurrences(of: "\"top_k\": 6", with: "\"top_k\": 100").utf8).write(to: url)
    let recipe = try Recipe.load(url)
    #expect { _ = try MainJob.run(recipe, folder: RunFolder(root: dir.appendingPathComponent("run")), log: { _ in }) }
      throws: { "\($0)".contains("top_k = 100 exceeds the vocabulary") }
    #expect(!FileManager.default.fileExists(atPath: dir.appendingPathComponent("run/teacher").path))
  }

  /// An MDLM teacher goes through the same command.
  @Test func mdlmTeacherDistills() throws {
    if ProcessInfo.processInfo.environment[childRunVariable] != nil { return }
    let dir = scratchDirectory("mdlm")
    defer { try? FileManager.default.removeItem(at: dir) }
    let summary = try runTiny(dir, kind: "mdlm")
    #expect(summary.report.models.map(\.round) == [0, 1, 2])
    #expect(try ModelFolder.readConfig(dir.appendingPathComponent("run/export/config.json")).kind == .mdlm)
  }
}
