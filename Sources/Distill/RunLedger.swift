import Formats
import Foundation

/// The one rule for "is this phase done?", and the checks of what a phase reads: a phase is done
/// when its manifest exists, records the same consumed identity, and its outputs still match; a
/// file a phase reads is verified against the manifest of the phase that wrote it before it is
/// used. A damaged or missing output is named in the error, the phase's manifest is withdrawn (so
/// that the next run redoes the phase) and nothing derived from the file is written.
public struct RunLedger {
  public let run: RunFolder
  public var log: (String) -> Void

  public init(run: RunFolder, log: @escaping (String) -> Void) { self.run = run; self.log = log }

  /// The recorded manifest, nil if there is none (or it is unreadable: the phase is then redone).
  public func manifest(_ phase: RunPhase) -> PhaseManifest? {
    guard let data = try? Data(contentsOf: run.manifest(phase)) else { return nil }
    guard let m = try? JSONDecoder().decode(PhaseManifest.self, from: data), m.phase == phase.name else {
      log("\(run.relative(run.manifest(phase))) is unreadable; \(phase) will be redone")
      return nil
    }
    return m
  }

  /// The manifest of `phase` if it is done with exactly `consumed` and its outputs verify; nil if
  /// it must run. Throws (after withdrawing the manifest) when an output is missing or damaged.
  public func completed(_ phase: RunPhase, consumed: [String: String]) throws -> PhaseManifest? {
    guard let m = manifest(phase) else { return nil }
    guard m.consumed == consumed else { throw inputsChanged(phase, recorded: m.consumed, now: consumed, done: true) }
    try verify(m, phase: phase)
    // A kill between the manifest and the marker's removal leaves the marker: it is stale now.
    if (try? FileManager.default.removeItem(at: run.startMarker(phase))) != nil {
      FileSystemSteps.step("remove " + run.startMarker(phase).path)
    }
    return m
  }

  /// The verified manifest of a phase that must be done already (what a later phase reads).
  public func require(_ phase: RunPhase) throws -> PhaseManifest {
    guard let m = manifest(phase) else {
      throw RunFolderError.unreadable(file: run.relative(run.manifest(phase)), detail: "does not exist: \(phase) is not done",
                                      advice: "run `pgm distill` (or `pgm pretrain`) with this recipe first")
    }
    try verify(m, phase: phase)
    return m
  }

  /// One hash of everything a finished phase produced (its outputs verified first): what a later
  /// phase records as the identity of that input.
  public func identity(of phase: RunPhase) throws -> String {
    let m = try require(phase)
    return FileDigest.sha256(of: m.outputs.map { "\($0.path) \($0.sha256)\n" }.joined())
  }

  /// The SHA-256 a finished phase recorded for one of its outputs (verified by `require`).
  public func recordedDigest(_ url: URL, of phase: RunPhase) throws -> String {
    let m = try require(phase)
    guard let o = m.output(run.relative(url)) else {
      throw RunFolderError.unreadable(file: run.relative(url), detail: "is not among the outputs of \(phase)",
                                      advice: "remove \(run.relative(run.manifest(phase))) and rerun to redo \(phase)")
    }
    return o.sha256
  }

  /// Runs `produce` (which returns the files and folders it wrote) unless the phase is done, then
  /// records the manifest. Half-done work of other inputs is cleared first.
  @discardableResult
  public func ensure(_ phase: RunPhase, consumed: [String: String], produce: () throws -> [URL]) throws -> PhaseManifest {
    if let m = try completed(phase, consumed: consumed) { return m }
    try begin(phase, consumed: consumed)
    let produced = try produce()
    return try finish(phase, consumed: consumed, outputs: produced)
  }

  /// Records that `phase` starts with `consumed`; clears what an earlier start with other inputs left.
  public func begin(_ phase: RunPhase, consumed: [String: String]) throws {
    let marker = run.startMarker(phase)
    if let data = try? Data(contentsOf: marker),
       let old = try? JSONDecoder().decode([String: String].self, from: data), old != consumed {
      throw inputsChanged(phase, recorded: old, now: consumed, done: false)
    }
    try FileError.wrap(run.manifests.path, "create the folder") {
      try FileManager.default.createDirectory(at: run.manifests, withIntermediateDirectories: true)
    }
    let enc = JSONEncoder()
    enc.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
    if (try? Data(contentsOf: marker)) != (try enc.encode(consumed)) {
      try AtomicFile.write(try enc.encode(consumed), to: marker)
    }
  }

  /// Hashes the outputs and writes the manifest (last), then drops the start marker.
  @discardableResult
  public func finish(_ phase: RunPhase, consumed: [String: String], outputs: [URL]) throws -> PhaseManifest {
    var records: [PhaseManifest.Output] = []
    for url in try Self.files(in: outputs) {
      if url.pathExtension == "h5" && url.lastPathComponent == "targets.h5" {
        let d = try TargetDigest.digest(url)
        records.append(.init(path: run.relative(url), sha256: d.combined, rows: d.rows, datasets: d.datasets))
      } else {
        records.append(.init(path: run.relative(url), sha256: try FileDigest.sha256(url), bytes: FileDigest.size(url)))
      }
    }
    let m = PhaseManifest(phase: phase.name, consumed: consumed, outputs: records)
    try FileError.wrap(run.manifests.path, "create the folder") {
      try FileManager.default.createDirectory(at: run.manifests, withIntermediateDirectories: true)
    }
    try AtomicFile.write(try m.encoded(), to: run.manifest(phase))
    if (try? FileManager.default.removeItem(at: run.startMarker(phase))) != nil {
      FileSystemSteps.step("remove " + run.startMarker(phase).path)
    }
    return m
  }

  /// Checks every output against the manifest; withdraws the manifest and throws on the first
  /// missing or damaged one.
  public func verify(_ m: PhaseManifest, phase: RunPhase) throws {
    for o in m.outputs {
      let url = run.resolve(o.path)
      guard FileManager.default.fileExists(atPath: url.path) else {
        try withdraw(phase)
        throw RunFolderError.missing(file: url.path, phase: phase)
      }
      if let rows = o.rows {
        let d: TargetDigest.Digest
        do { d = try TargetDigest.digest(url) } catch {
          throw try damaged(url, phase, "it cannot be read (\(error))")
        }
        if d.rows != rows {
          throw try damaged(url, phase, "its committed_rows says \(d.rows) rows, the manifest of \(phase) recorded \(rows)")
        }
        if let bad = (o.datasets ?? [:]).keys.sorted().first(where: { d.datasets[$0] != o.datasets?[$0] }) {
          throw try damaged(url, phase, "its dataset /\(bad) no longer holds the rows recorded in the manifest of \(phase) (SHA-256 differs)")
        }
        continue
      }
      if let bytes = o.bytes, let size = FileDigest.size(url), size != bytes {
        throw try damaged(url, phase, "it has \(size) bytes, the manifest of \(phase) recorded \(bytes)")
      }
      let digest = try FileDigest.sha256(url)
      if digest != o.sha256 {
        throw try damaged(url, phase, "its SHA-256 is \(digest.prefix(12))…, the manifest of \(phase) recorded \(o.sha256.prefix(12))…")
      }
    }
  }

  /// A damaged output: the phase's manifest is withdrawn and the file moved aside (`<name>.damaged`)
  /// so that the next run redoes the phase from scratch for that file instead of resuming from it.
  func damaged(_ url: URL, _ phase: RunPhase, _ detail: String) throws -> RunFolderError {
    try withdraw(phase)
    // A file outside the run (a recipe's `data.path`) belongs to the user: named, never moved.
    guard !run.relative(url).hasPrefix("/") else {
      return RunFolderError.damaged(file: url.path, phase: phase, detail: detail + " (it changed since the run used it)", movedTo: nil)
    }
    let aside = url.deletingLastPathComponent().appendingPathComponent(url.lastPathComponent + ".damaged")
    try? FileManager.default.removeItem(at: aside)
    let moved = (try? FileManager.default.moveItem(at: url, to: aside)) != nil
    if moved { FileSystemSteps.step("quarantine " + url.path) }
    return RunFolderError.damaged(file: url.path, phase: phase, detail: detail, movedTo: moved ? aside.path : nil)
  }

  /// Removes the manifest: the phase counts as not done.
  public func withdraw(_ phase: RunPhase) throws {
    let url = run.manifest(phase)
    guard FileManager.default.fileExists(atPath: url.path) else { return }
    try FileError.wrap(url.path, "remove") { try FileManager.default.removeItem(at: url) }
    FileSystemSteps.step("withdraw " + url.path)
  }

  /// A phase done (or started) with other inputs than this run would give it. Its files are kept:
  /// hours of training are never thrown away on a guess; the user decides.
  func inputsChanged(_ phase: RunPhase, recorded: [String: String], now: [String: String], done: Bool) -> RunFolderError {
    let changed = Set(recorded.keys).union(now.keys).filter { recorded[$0] != now[$0] }.sorted()
    let files = (run.owned(by: phase).filter { FileManager.default.fileExists(atPath: $0.path) }
                 + [done ? run.manifest(phase) : run.startMarker(phase)]).map(\.path)
    return .inputsChanged(phase: phase, done: done, changed: changed, files: files)
  }

  /// Files that are logs, not results: never recorded (they hold timings).
  static let logFiles: Set<String> = ["metrics.jsonl", "timing.json"]

  /// The regular files of `urls`, folders expanded (dot files, temporaries and logs left out), sorted.
  static func files(in urls: [URL]) throws -> [URL] {
    var out: [URL] = []
    let fm = FileManager.default
    for url in urls {
      var isDir: ObjCBool = false
      guard fm.fileExists(atPath: url.path, isDirectory: &isDir) else {
        throw FileError(path: url.path, operation: "record", code: ENOENT)
      }
      if !isDir.boolValue { out.append(url); continue }
      let names = try FileError.wrap(url.path, "list") { try fm.contentsOfDirectory(atPath: url.path) }.sorted()
      for name in names where !name.hasPrefix(".") && !logFiles.contains(name) && !name.hasSuffix(".damaged") {
        out += try files(in: [url.appendingPathComponent(name)])
      }
    }
    return out
  }
}
