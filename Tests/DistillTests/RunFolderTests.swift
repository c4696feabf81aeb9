import Checkpoints
import Distill
import Formats
import Foundation
import HDF5
import Teacher
import Testing

private let lockChildVariable = "PGM_LOCK_CHILD_RUN"

@Suite(.serialized) struct RunFolderTests {
  /// The child of `twoRunsOnOneFolder`: a run that holds the folder's lock for a while.
  @Test func lockHolderChild() throws {
    guard let dir = ProcessInfo.processInfo.environment[lockChildVariable] else { return }
    try runMicro(URL(fileURLWithPath: dir))
  }

  /// A second run on a folder in use is refused at once, naming the holder (pid, host, command,
  /// start time), and touches nothing; once the first is done the folder is whole and usable.
  @Test func twoRunsOnOneFolder() throws {
    if ProcessInfo.processInfo.environment[lockChildVariable] != nil { return }
    let scratch = scratchDirectory("lock")
    defer { try? FileManager.default.removeItem(at: scratch) }
    let executable = try FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")
    let child = Process()
    child.executableURL = URL(fileURLWithPath: executable)
    child.arguments = ["--testing-library", "swift-testing", "--filter", "lockHolderChild"]
    child.environment = ProcessInfo.processInfo.environment.merging([lockChildVariable: scratch.path]) { $1 }
    child.standardOutput = FileHandle.nullDevice
    child.standardError = FileHandle.nullDevice
    try child.run()
    let run = RunFolder(root: scratch.appendingPathComponent("run"))
    var holder: RunLock.Holder?
    let deadline = Date().addingTimeInterval(60)
    while holder == nil && child.isRunning && Date() < deadline { holder = RunLock.holder(of: run.root); usleep(1_000) }
    let seen = try #require(holder, "the first run never held the lock")
    #expect(seen.pid == child.processIdentifier && seen.command.contains("lockHolderChild") && !seen.host.isEmpty)
    #expect { try runMicro(scratch) } throws: { error in
      let text = "\(error)"
      return text.contains("is in use by process \(child.processIdentifier)") && text.contains("lockHolderChild")
    }
    child.waitUntilExit()
    #expect(child.terminationStatus == 0)
    #expect(RunLock.holder(of: run.root) == nil, "the lock is released when its process ends")
    let summary = try runMicro(scratch)  // the folder the first run finished is complete and reusable
    #expect(summary.report.models.count == 3)
  }

  /// A file of each kind a run reads, with one byte changed after the run: the next run names the
  /// file, moves it aside, writes nothing derived from it, and the run after that regenerates it
  /// and ends where the good run ended.
  @Test(arguments: [
    "data/tokens.h5", "round-1/targets.h5", "teacher/checkpoint.safetensors", "teacher/model-raw/model.safetensors",
    "round-1/student/model/model.safetensors", "round-1/student/checkpoint.safetensors", "eval/round-1-steps-2.json",
  ])
  func aChangedByteIsNamedAndNeverPropagated(_ file: String) throws {
    let scratch = scratchDirectory("flip")
    defer { try? FileManager.default.removeItem(at: scratch) }
    let good = try runMicro(scratch)
    let run = scratch.appendingPathComponent("run")
    let before = try folderContents(run)
    let target = run.appendingPathComponent(file)
    if file.hasSuffix(".json") {
      // A cached number changed (the forbidden rate of a row).
      var text = try String(contentsOf: target, encoding: .utf8)
      let range = try #require(text.range(of: "\"forbidden_rate\" : "))
      text.insert(contentsOf: "1", at: range.upperBound)
      try Data(text.utf8).write(to: target)
    } else if file.hasSuffix("targets.h5") {
      // One committed target value changed in place. Bytes flipped at fixed fractions of a file this
      // small land in HDF5 metadata or free space depending on the attributes' layout, which the
      // content hash rightly ignores; a changed value is what it must catch.
      let h5 = try H5File.open(target.path, mode: .readWrite)
      let logProbs = try h5.openGroup("entries").openDataset("log_probs", of: Float.self)
      var first = try logProbs.read(rows: 0..<1)
      first[0] -= 0.5
      try logProbs.write(first, atRow: 0)
      logProbs.close()
      try h5.close()
    } else if file.hasSuffix(".h5") {
      // Bytes spread over the file, so that some land in the chunks of committed rows (a byte
      // in free space changes no value and is rightly ignored by the content hash of targets).
      for k in 1...9 { try flipByte(target, at: Double(k) / 10) }
    } else {
      try flipByte(target)
    }
    FileDigest.forget()
    #expect { try runMicro(scratch) } throws: { error in
      "\(error)".contains(target.path) && "\(error)".contains("is damaged") && "\(error)".contains("Rerun the same command")
    }
    // Nothing downstream was rewritten from the bad file.
    let after = try folderContents(run)
    for (path, data) in before where path != file && !path.hasPrefix("manifests/") {
      #expect(after[path] == data || after[path] == nil, "\(path) changed after \(file) was damaged")
    }
    #expect(FileManager.default.fileExists(atPath: target.path + ".damaged"))
    let again = try runMicro(scratch)
    #expect(differences(before, try folderContents(run)).isEmpty)
    #expect(qualities(again.report.rows) == qualities(good.report.rows))
  }

  /// `committed_rows` lowered in a finished targets file: the manifest's row count catches it.
  @Test func loweredCommittedRowsIsCaught() throws {
    let scratch = scratchDirectory("rows")
    defer { try? FileManager.default.removeItem(at: scratch) }
    try runMicro(scratch)
    let path = scratch.appendingPathComponent("run/round-2/targets.h5").path
    do {
      let file = try H5File.open(path, mode: .readWrite)
      try file.openGroup("rows").attributes.set(H5ResumableWriter.committedRowsAttribute, Int64(4))
      try file.close()
    }
    FileDigest.forget()
    #expect { try runMicro(scratch) } throws: { "\($0)".contains(path) && "\($0)".contains("committed_rows says 4 rows") }
    try runMicro(scratch)
  }

  /// Stale temporaries of killed runs are removed by the next run; a live process's are kept.
  @Test func staleTemporariesAreRemoved() throws {
    let scratch = scratchDirectory("tmp")
    defer { try? FileManager.default.removeItem(at: scratch) }
    try runMicro(scratch)
    let run = scratch.appendingPathComponent("run")
    let stale = run.appendingPathComponent("teacher/.checkpoint.safetensors.tmp-999999-1")
    let live = run.appendingPathComponent("round-1/.x.tmp-1-2")  // pid 1 is alive
    try Data("x".utf8).write(to: stale)
    try Data("x".utf8).write(to: live)
    try runMicro(scratch)
    #expect(!FileManager.default.fileExists(atPath: stale.path))
    #expect(FileManager.default.fileExists(atPath: live.path))
  }

  /// A damaged recipe.json is named as such (not "a different recipe"); another recipe is refused
  /// with the fields that differ.
  @Test func recipeCopyErrors() throws {
    let scratch = scratchDirectory("recipe-copy")
    defer { try? FileManager.default.removeItem(at: scratch) }
    try runMicro(scratch)
    let copy = scratch.appendingPathComponent("run/recipe.json")
    #expect { try runMicro(scratch, recipe: microRecipe.replacingOccurrences(of: "\"seed\": 3", with: "\"seed\": 4")) }
      throws: { "\($0)".contains("different recipe") && "\($0)".contains("seed") }
    let text = try Data(contentsOf: copy)
    try text.prefix(text.count / 2).write(to: copy)
    #expect { try runMicro(scratch) } throws: { "\($0)".contains(copy.path) && "\($0)".contains("damaged") }
    try FileManager.default.removeItem(at: copy)
    try runMicro(scratch)  // finished phases are kept: their manifests match
  }

  /// A recipe refused by a check that needs the data leaves no recipe.json behind, so the
  /// corrected recipe runs in the same folder.
  @Test func aRefusedRecipeDoesNotBlockTheCorrectedOne() throws {
    let scratch = scratchDirectory("refused")
    defer { try? FileManager.default.removeItem(at: scratch) }
    let bad = microRecipe.replacingOccurrences(of: "\"steps\": 2, \"batch_size\": 4, \"optimizer\": { \"lr\": 1e-3", with: "\"steps\": 0, \"batch_size\": 4, \"optimizer\": { \"lr\": 1e-3")
    #expect { try runMicro(scratch, recipe: bad) } throws: { "\($0)".contains("distill.student") && "\($0)".contains("steps must be ≥ 1") }
    #expect(!FileManager.default.fileExists(atPath: scratch.appendingPathComponent("run").path), "a refused recipe leaves nothing")
    try runMicro(scratch)
  }
}

extension RunFolderTests {
  /// `pgm eval --recipe` with another seed or sampler evaluates again (cached rows are tied to
  /// both) and leaves everything the run made as it was.
  @Test func anotherSeedOrSamplerIsEvaluatedAgain() throws {
    let scratch = scratchDirectory("eval-again")
    defer { try? FileManager.default.removeItem(at: scratch) }
    let first = try runMicro(scratch)
    let run = RunFolder(root: scratch.appendingPathComponent("run"))
    let before = try folderContents(run.root)
    let recipe = try Recipe.load(scratch.appendingPathComponent("recipe-in.json"))
    func report(_ r: Recipe, seed: UInt64?) throws -> RunReport.Document {
      try RunSession.exclusive(run) {
        try MainJob.checkRecipe(r, matches: run, exceptEval: true)
        var report = RunReport(recipe: r, run: run, dataset: try DataPreparation.prepare(r, run: run, log: { _ in }), log: { _ in })
        report.evaluationSeed = seed
        return try report.write(timings: [])
      }
    }
    let reseeded = try report(recipe, seed: 99)
    #expect(qualities(reseeded.rows) != qualities(first.report.rows))
    var other = recipe
    other.eval.sampler = .nonUniform
    let resampled = try report(other, seed: nil)
    // Every curve row (each model at each step count with the recipe's sampler) is redone with the
    // non-uniform schedule; the free-sampler comparison rows come beside them.
    for row in first.report.rows where row.sampler == SamplerVariant() {
      #expect(resampled.rows.contains { $0.model == row.model && $0.steps == row.steps && $0.sampler.schedule == .nonUniform },
              "\(row.model) at \(row.steps) steps")
    }
    #expect(differences(before, try folderContents(run.root)).isEmpty, "the run's own files are untouched")
    var changed = recipe
    changed.pretrain.steps += 1
    #expect { try report(changed, seed: nil) } throws: { "\($0)".contains("different recipe") && "\($0)".contains("pretrain.steps") }
  }
}

extension RunFolderTests {
  /// A recipe's `data.path` file replaced by another dataset after the run: named (never moved, it
  /// is the user's), and once the data is recorded again, the teacher trained on the old data is
  /// neither used nor thrown away: the error lists what differs and what to remove.
  @Test func replacedExternalDataStopsTheRun() throws {
    let scratch = scratchDirectory("external")
    defer { try? FileManager.default.removeItem(at: scratch) }
    try runMicro(scratch.appendingPathComponent("a"))
    try runMicro(scratch.appendingPathComponent("b"), recipe: microRecipe.replacingOccurrences(of: "\"seed\": 3", with: "\"seed\": 4"))
    let external = scratch.appendingPathComponent("tokens.h5")
    try FileManager.default.copyItem(at: scratch.appendingPathComponent("a/run/data/tokens.h5"), to: external)
    let recipe = microRecipe.replacingOccurrences(
      of: "\"synthetic\": { \"vocab\": 6, \"branching\": 2, \"length\": 8, \"sequences\": 48, \"validation\": 16 }",
      with: "\"path\": \"\(external.path)\"")
    #expect(recipe != microRecipe)
    let dir = scratch.appendingPathComponent("c")
    try runMicro(dir, recipe: recipe)
    try FileManager.default.removeItem(at: external)
    try FileManager.default.copyItem(at: scratch.appendingPathComponent("b/run/data/tokens.h5"), to: external)
    FileDigest.forget()
    #expect { try runMicro(dir, recipe: recipe) } throws: { "\($0)".contains(external.path) && "\($0)".contains("changed since the run used it") }
    #expect(FileManager.default.fileExists(atPath: external.path), "the user's file stays where it is")
    #expect { try runMicro(dir, recipe: recipe) } throws: { error in
      let s = "\(error)"
      return s.contains("the teacher was done with other inputs") && s.contains("phase:data") && s.contains("its files were kept")
    }
    #expect(FileManager.default.fileExists(atPath: dir.appendingPathComponent("run/teacher/model/model.safetensors").path))
  }
}

/// Flips one byte in the middle of a file (the data section of a safetensors file, a chunk of an
/// HDF5 file).
func flipByte(_ url: URL, at fraction: Double = 0.75) throws {
  let handle = try FileHandle(forUpdating: url)
  defer { try? handle.close() }
  let size = try handle.seekToEnd()
  let offset = UInt64(Double(size) * fraction)
  try handle.seek(toOffset: offset)
  let byte = try handle.read(upToCount: 1)![0]
  try handle.seek(toOffset: offset)
  try handle.write(contentsOf: Data([byte ^ 0x5A]))
}
