import Distill
import Foundation
import Testing

/// The smallest complete run: every phase, in about a second of debug-build work, so that tests can
/// run it dozens of times (kill points, full disks, damaged files).
let microRecipe = """
{ "name": "micro", "seed": 3,
  "data": { "synthetic": { "vocab": 6, "branching": 2, "length": 8, "sequences": 48, "validation": 16 } },
  "model": { "kind": "pgm", "hidden_size": 8, "n_heads": 2, "cond_dim": 4, "encoder_blocks": 1, "decoder_blocks": 1, "dropout": 0.0 },
  "pretrain": { "steps": 4, "batch_size": 4, "optimizer": { "lr": 2e-3, "warmup_steps": 1 }, "checkpoint_every": 2, "log_every": 2, "eval_rows": 8 },
  "distill": { "rounds": 2, "s0": 8, "targets_per_round": 12, "top_k": 3,
               "student": { "steps": 2, "batch_size": 4, "optimizer": { "lr": 1e-3, "warmup_steps": 1 }, "checkpoint_every": 1 } },
  "eval": { "steps": [2], "samples": 4, "batch": 4 } }
"""

/// Runs the micro recipe into `dir/run`.
@discardableResult
func runMicro(_ dir: URL, recipe text: String = microRecipe, log: @escaping (String) -> Void = { _ in }) throws -> MainJob.Summary {
  try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
  let url = dir.appendingPathComponent("recipe-in.json")
  try Data(text.utf8).write(to: url)
  return try MainJob.run(try Recipe.load(url), folder: RunFolder(root: dir.appendingPathComponent("run")), log: log)
}

/// What a child process of this test binary did.
struct ChildOutcome {
  var status: Int32
  var standardError: String
  var killed: Bool { status == 128 + SIGKILL }
}

/// Runs the test `test` of this binary in a child process with `environment` added.
func runChild(_ test: String, environment: [String: String]) throws -> ChildOutcome {
  let executable = try FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")
  let child = Process()
  child.executableURL = URL(fileURLWithPath: executable)
  child.arguments = ["--testing-library", "swift-testing", "--filter", test]
  child.environment = ProcessInfo.processInfo.environment.merging(environment) { $1 }
  let errors = Pipe()
  child.standardOutput = FileHandle.nullDevice
  child.standardError = errors
  try child.run()
  let text = String(decoding: errors.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
  child.waitUntilExit()
  let status = child.terminationReason == .uncaughtSignal ? 128 + child.terminationStatus : child.terminationStatus
  return ChildOutcome(status: status, standardError: text)
}

/// Files whose bytes legitimately differ between two runs of the same recipe: logs and reports
/// with wall-clock times (and the export record, which covers the report's rows).
func isTimingFile(_ path: String) -> Bool {
  let name = (path as NSString).lastPathComponent
  return ["metrics.jsonl", "timing.json", "report.md", "report.json", "tradeoff.svg", ".lock"].contains(name)
    || path.hasPrefix("eval/") || path == "export/README.md" || path == "manifests/export.json"
    || path.hasSuffix(".damaged")  // a damaged file moved aside, kept as evidence
}

/// Relative path → bytes of every file under `root` (timing files left out).
func folderContents(_ root: URL) throws -> [String: Data] {
  var out: [String: Data] = [:]
  let base = root.standardizedFileURL.path + "/"
  guard let walker = FileManager.default.enumerator(at: root, includingPropertiesForKeys: [.isRegularFileKey]) else { return [:] }
  for case let url as URL in walker where (try url.resourceValues(forKeys: [.isRegularFileKey])).isRegularFile == true {
    let path = String(url.standardizedFileURL.path.dropFirst(base.count))
    if isTimingFile(path) { continue }
    out[path] = try Data(contentsOf: url)
  }
  return out
}

/// The paths whose contents differ (or exist on one side only); targets files compare by content
/// (their manifests hold the per-dataset hashes, and are compared byte for byte).
func differences(_ a: [String: Data], _ b: [String: Data]) -> [String] {
  Set(a.keys).union(b.keys).filter { $0.hasSuffix("targets.h5") ? (a[$0] == nil) != (b[$0] == nil) : a[$0] != b[$0] }.sorted()
}

/// The quality numbers of a report (latency left out).
func qualities(_ rows: [EvaluationRow]) -> [String] {
  rows.map { r in
    guard case .markov(let m) = r.quality else { return "\(r.model) unmeasured" }
    return "\(r.model) \(r.steps) \(m.forbiddenRate) \(m.bigramTV) \(r.entropy)"
  }
}
