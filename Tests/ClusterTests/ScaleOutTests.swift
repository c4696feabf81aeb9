import Foundation
import Testing
import TestSupport

/// `pgm distill` on one process and under `mpirun -np 2` on a tiny recipe: the same targets, the
/// same students up to float summation order, a killed rank, a rank given bad input.
@Suite(.serialized) struct ScaleOutTests {
  /// Four target batches of 64 rows per round (the unit the ranks share), a few training steps.
  static let recipe = """
  { "name": "scale", "seed": 3,
    "data": { "synthetic": { "vocab": 6, "branching": 2, "length": 8, "sequences": 48, "validation": 16 } },
    "model": { "kind": "pgm", "hidden_size": 8, "n_heads": 2, "cond_dim": 4, "encoder_blocks": 1, "decoder_blocks": 1, "dropout": 0.0 },
    "pretrain": { "steps": 4, "batch_size": 4, "optimizer": { "lr": 2e-3, "warmup_steps": 1 }, "checkpoint_every": 2, "log_every": 2, "eval_rows": 8 },
    "distill": { "rounds": 2, "s0": 8, "targets_per_round": 200, "top_k": 3,
                 "student": { "steps": 3, "batch_size": 6, "optimizer": { "lr": 1e-3, "warmup_steps": 1 }, "checkpoint_every": 1 } },
    "eval": { "steps": [2], "samples": 4, "batch": 4 } }
  """

  /// Largest difference allowed between the N = 1 and N = 2 students' weights (measured: ~1e-5).
  static let weightTolerance: Float = 1e-3
  /// Relative difference allowed between their report rows' numbers (measured: equal).
  static let reportTolerance = 1e-3

  /// A pretrained teacher (one process), copied into folders that the distillations start from, so
  /// that both distillations have the same teacher.
  static func pretrained(_ scratch: Scratch, copies: [String], recipe text: String = recipe) throws -> URL {
    let recipe = scratch.file("recipe.json")
    try Data(text.utf8).write(to: recipe)
    let base = scratch.file("base")
    let r = try runChild(try pgmExecutable(), ["pretrain", "--recipe", recipe.path, "--out", base.path],
                         environment: childEnvironment(), timeout: 300)
    #expect(r.status == 0, "\(r.stderr)")
    for name in copies { try FileManager.default.copyItem(at: base, to: scratch.file(name)) }
    return recipe
  }

  static func distill(_ recipe: URL, _ out: URL, ranks: Int, timeout: TimeInterval = 300) throws -> ChildResult {
    let pgm = try pgmExecutable()
    let arguments = ["distill", "--recipe", recipe.path, "--out", out.path]
    if ranks == 1 { return try runChild(pgm, arguments, environment: childEnvironment(), timeout: timeout) }
    return try runChild(mpirun!, ["-np", String(ranks), "--oversubscribe", pgm] + arguments, environment: childEnvironment(),
                        timeout: timeout)
  }

  @Test(.enabled(if: mpirun != nil)) func twoRanksMatchOneProcess() throws {
    let scratch = try Scratch("scale-equal")
    defer { scratch.remove() }
    let recipe = try Self.pretrained(scratch, copies: ["one", "two"])
    let one = try Self.distill(recipe, scratch.file("one"), ranks: 1)
    #expect(one.status == 0, "\(one.stderr)")
    let two = try Self.distill(recipe, scratch.file("two"), ranks: 2)
    #expect(two.status == 0 && !two.timedOut, "\(two.stderr)")
    // The summary is printed once (rank 0), progress too.
    #expect(two.stdout.components(separatedBy: "report:   ").count == 2, "\(two.stdout)")

    // Round 1's targets come from the same teacher: every dataset's committed rows bit-identical.
    let a = try manifestOutputs(scratch.file("one"), "round-1.targets"), b = try manifestOutputs(scratch.file("two"), "round-1.targets")
    #expect(a == b && !a.isEmpty)
    // Round 2's inputs, times and target ids: bit-identical too (its teacher, round 1's student,
    // differs in the last bits, which moves log-probabilities by as much).
    let a2 = try targetDigests(scratch.file("one"), round: 2), b2 = try targetDigests(scratch.file("two"), round: 2)
    for name in ["rows/inputs", "rows/times", "rows/entry_count", "entries/ids"] { #expect(a2[name] == b2[name], "\(name)") }

    for round in [1, 2] {
      for folder in ["model", "model-raw"] {
        let path = "round-\(round)/student/\(folder)/model.safetensors"
        let diff = try maxAbsDifference(scratch.file("one/" + path), scratch.file("two/" + path))
        print("N=1 vs N=2, \(path): max |Δw| = \(diff)")
        #expect(diff <= Self.weightTolerance, "\(path): \(diff)")
      }
    }
    let rowsDiff = try reportDifference(scratch.file("one/report.json"), scratch.file("two/report.json"))
    print("N=1 vs N=2, report rows: max relative difference \(rowsDiff.value) (\(rowsDiff.key))")
    #expect(rowsDiff.value <= Self.reportTolerance, "\(rowsDiff.key)")
  }

  /// On-policy distillation (the quickstart's method, with seed tokens and the marginal term) on
  /// one process and on two: the same student up to summation order (each row draws from its own
  /// stream; the means, the pooled marginal and the auxiliary model's gradients are summed over the
  /// ranks). The teacher is pretrained once, so both runs start from the same weights.
  @Test(.enabled(if: mpirun != nil)) func onPolicyTwoRanksMatchOneProcess() throws {
    let scratch = try Scratch("scale-dmmd")
    defer { scratch.remove() }
    let onPolicy = Self.recipe.replacingOccurrences(
      of: #""distill": { "rounds": 2, "s0": 8,"#,
      with: #""distill": { "method": "dmmd", "times": "student_grid", "rounds": 1, "s0": 4, "k": 2, "dmmd": { "seed_tokens": true, "marginal": 3, "noise": 0 },"#)
    #expect(onPolicy != Self.recipe)
    let recipe = try Self.pretrained(scratch, copies: ["one", "two"], recipe: onPolicy)
    let one = try Self.distill(recipe, scratch.file("one"), ranks: 1)
    #expect(one.status == 0, "\(one.stderr)")
    let two = try Self.distill(recipe, scratch.file("two"), ranks: 2)
    #expect(two.status == 0 && !two.timedOut, "\(two.stderr)")
    #expect(try manifestOutputs(scratch.file("one"), "round-1.targets") == manifestOutputs(scratch.file("two"), "round-1.targets"))
    for folder in ["model", "model-raw"] {
      let path = "round-1/student/\(folder)/model.safetensors"
      let diff = try maxAbsDifference(scratch.file("one/" + path), scratch.file("two/" + path))
      print("on-policy, N=1 vs N=2, \(path): max |Δw| = \(diff)")
      // Tighter than the SDTT test's: AdamW is nearly blind to a wrong scale of the gradients, so
      // a wrong global mean would show only as a small difference (measured: 3e-8).
      #expect(diff <= 1e-6, "\(path): \(diff)")
    }
    let rowsDiff = try reportDifference(scratch.file("one/report.json"), scratch.file("two/report.json"))
    print("on-policy, N=1 vs N=2, report rows: max relative difference \(rowsDiff.value) (\(rowsDiff.key))")
    #expect(rowsDiff.value <= Self.reportTolerance, "\(rowsDiff.key)")
  }

  /// Rank 1 killed (SIGKILL) while round 1's targets are generated: mpirun ends the job; the same
  /// command then completes, with the targets and students of an uninterrupted two-rank run.
  @Test(.enabled(if: mpirun != nil)) func killedRankThenRerunCompletes() throws {
    let scratch = try Scratch("scale-kill")
    defer { scratch.remove() }
    let recipe = try Self.pretrained(scratch, copies: ["whole", "killed"])
    let whole = try Self.distill(recipe, scratch.file("whole"), ranks: 2)
    #expect(whole.status == 0, "\(whole.stderr)")

    let killed = scratch.file("killed")
    let job = Process()
    job.executableURL = URL(fileURLWithPath: mpirun!)
    job.arguments = ["-np", "2", "--oversubscribe", try pgmExecutable(), "distill", "--recipe", recipe.path, "--out", killed.path]
    job.environment = childEnvironment()
    job.standardOutput = FileHandle.nullDevice
    job.standardError = FileHandle.nullDevice
    try job.run()
    let deadline = Date().addingTimeInterval(240)
    var victim: Int32?
    while job.isRunning && Date() < deadline && victim == nil {
      if FileManager.default.fileExists(atPath: killed.appendingPathComponent("round-1/targets.h5").path) {
        victim = rankProcess(1, under: job.processIdentifier)
      }
      usleep(5_000)
    }
    #expect(victim != nil, "rank 1 was not found while the job ran")
    if let victim {
      print("killed rank 1 (pid \(victim)) during round 1's targets")
      kill(victim, SIGKILL)
    }
    while job.isRunning && Date() < deadline { usleep(20_000) }
    let hung = job.isRunning
    if hung { kill(job.processIdentifier, SIGKILL) }
    job.waitUntilExit()
    #expect(!hung, "the job did not end after rank 1 was killed")
    #expect(victim == nil || job.terminationStatus != 0)

    let rerun = try Self.distill(recipe, killed, ranks: 2)
    #expect(rerun.status == 0, "\(rerun.stderr)")
    for phase in ["round-1.targets", "round-2.targets", "round-1.student", "round-2.student"] {
      #expect(try manifestOutputs(killed, phase) == manifestOutputs(scratch.file("whole"), phase), "\(phase)")
    }
  }

  /// A rank given bad input (another launch line of the same job: `mpirun A : B`) ends the whole
  /// job with its message at once, whichever collective the other rank waits in.
  @Test(.enabled(if: mpirun != nil)) func rankWithBadInputEndsTheJob() throws {
    let scratch = try Scratch("scale-bad")
    defer { scratch.remove() }
    let good = scratch.file("recipe.json"), bad = scratch.file("bad.json")
    try Data(Self.recipe.utf8).write(to: good)
    try Data(Self.recipe.replacingOccurrences(of: "\"rounds\": 2", with: "\"rounds\": 2,,").utf8).write(to: bad)
    let pgm = try pgmExecutable()
    let out = scratch.file("run").path
    let broken = try runChild(mpirun!, ["--oversubscribe", "-np", "1", pgm, "distill", "--recipe", good.path, "--out", out, ":",
                                        "-np", "1", pgm, "distill", "--recipe", bad.path, "--out", out],
                              environment: childEnvironment(), timeout: 120)
    #expect(!broken.timedOut, "the job hung: \(broken.stderr)")
    #expect(broken.status != 0)
    #expect(broken.stderr.contains("pgm: rank 1 of 2: "), "\(broken.stderr)")

    // A different seed on one rank would silently mix two runs: refused on every rank.
    let mixed = try runChild(mpirun!, ["--oversubscribe", "-np", "1", pgm, "distill", "--recipe", good.path, "--out", out, ":",
                                       "-np", "1", pgm, "distill", "--recipe", good.path, "--out", out, "--seed", "9"],
                             environment: childEnvironment(), timeout: 120)
    #expect(!mixed.timedOut && mixed.status != 0)
    #expect(mixed.stderr.contains("rank 1 was given another recipe, --seed or --out than rank 0"), "\(mixed.stderr)")
  }
}

/// `outputs` of a phase's manifest, as JSON text (paths, sizes, digests, per-dataset digests).
func manifestOutputs(_ run: URL, _ phase: String) throws -> String {
  let data = try Data(contentsOf: run.appendingPathComponent("manifests/\(phase).json"))
  let object = try JSONSerialization.jsonObject(with: data) as! [String: Any]
  return String(decoding: try JSONSerialization.data(withJSONObject: object["outputs"] ?? [], options: [.sortedKeys]), as: UTF8.self)
}

/// The per-dataset digests a targets manifest recorded.
func targetDigests(_ run: URL, round: Int) throws -> [String: String] {
  let data = try Data(contentsOf: run.appendingPathComponent("manifests/round-\(round).targets.json"))
  let object = try JSONSerialization.jsonObject(with: data) as! [String: Any]
  let outputs = object["outputs"] as! [[String: Any]]
  return (outputs.first { ($0["path"] as? String)?.hasSuffix("targets.h5") == true }?["datasets"] as? [String: String]) ?? [:]
}

/// The float32 tensors of a safetensors file.
func readSafeTensors(_ url: URL) throws -> [String: [Float]] {
  let bytes = [UInt8](try Data(contentsOf: url))
  let n = bytes[0..<8].enumerated().reduce(0) { $0 | Int($1.element) << (8 * $1.offset) }
  let header = try JSONSerialization.jsonObject(with: Data(bytes[8..<(8 + n)])) as! [String: Any]
  var tensors: [String: [Float]] = [:]
  for (name, value) in header where name != "__metadata__" {
    let entry = value as! [String: Any]
    guard entry["dtype"] as? String == "F32" else { continue }
    let range = entry["data_offsets"] as! [Int]
    let start = 8 + n + range[0]
    tensors[name] = stride(from: start, to: 8 + n + range[1], by: 4).map { i in
      Float(bitPattern: UInt32(bytes[i]) | UInt32(bytes[i + 1]) << 8 | UInt32(bytes[i + 2]) << 16 | UInt32(bytes[i + 3]) << 24)
    }
  }
  return tensors
}

func maxAbsDifference(_ a: URL, _ b: URL) throws -> Float {
  let x = try readSafeTensors(a), y = try readSafeTensors(b)
  #expect(Set(x.keys) == Set(y.keys))
  var worst: Float = 0
  for (name, values) in x {
    guard let other = y[name], other.count == values.count else { return .infinity }
    for (u, v) in zip(values, other) { worst = max(worst, abs(u - v)) }
  }
  return worst
}

/// The largest relative difference between the numbers of two reports' rows (timings left out).
func reportDifference(_ a: URL, _ b: URL) throws -> (key: String, value: Double) {
  func rows(_ url: URL) throws -> Any { (try JSONSerialization.jsonObject(with: Data(contentsOf: url)) as! [String: Any])["rows"]! }
  var worst = (key: "", value: 0.0)
  func walk(_ x: Any, _ y: Any, _ path: String) {
    if let x = x as? [String: Any], let y = y as? [String: Any] {
      for (k, v) in x where !k.contains("latency") && !k.hasSuffix("_s") && !k.contains("per_s") {
        guard let w = y[k] else { worst = (path + "." + k, .infinity); continue }
        walk(v, w, path + "." + k)
      }
    } else if let x = x as? [Any], let y = y as? [Any] {
      guard x.count == y.count else { worst = (path, .infinity); return }
      for (i, (u, v)) in zip(x, y).enumerated() { walk(u, v, path + "[\(i)]") }
    } else if let x = x as? NSNumber, let y = y as? NSNumber {
      let d = abs(x.doubleValue - y.doubleValue) / max(abs(x.doubleValue), 1e-9)
      if d > worst.value { worst = (path, d) }
    }
  }
  walk(try rows(a), try rows(b), "rows")
  return worst
}

/// The pid of the `pgm` rank `rank` among the descendants of `root` (read from its environment).
func rankProcess(_ rank: Int, under root: Int32) -> Int32? {
  let entries = (try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? []
  for name in entries {
    guard let pid = Int32(name), pid != root,
          let comm = try? String(contentsOfFile: "/proc/\(pid)/comm", encoding: .utf8), comm.hasPrefix("pgm"),
          let environ = try? Data(contentsOf: URL(fileURLWithPath: "/proc/\(pid)/environ")) else { continue }
    let variables = environ.split(separator: 0).map { String(decoding: $0, as: UTF8.self) }
    guard variables.contains("OMPI_COMM_WORLD_RANK=\(rank)"), isDescendant(pid, of: root) else { continue }
    return pid
  }
  return nil
}

func isDescendant(_ pid: Int32, of root: Int32) -> Bool {
  var current = pid
  for _ in 0..<16 {
    guard let stat = try? String(contentsOfFile: "/proc/\(current)/stat", encoding: .utf8),
          let close = stat.lastIndex(of: ")") else { return false }
    let fields = stat[stat.index(after: close)...].split(separator: " ")
    guard fields.count > 2, let parent = Int32(fields[1]) else { return false }
    if parent == root { return true }
    if parent <= 1 { return false }
    current = parent
  }
  return false
}
