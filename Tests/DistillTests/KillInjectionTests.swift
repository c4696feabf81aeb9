import Distill
import Formats
import Foundation
import Testing

private let childVariable = "PGM_KILL_INJECTION_CHILD"

/// `kill -9` right after each file-system step of a run (every rename into place, every commit of
/// target rows, every manifest written or withdrawn: `FileSystemSteps`), then the same command
/// again: the rerun must end with a folder byte-identical to an uninterrupted run's (timing logs
/// and reports aside; targets files by content, through their manifests).
///
/// Every step is covered with `PGM_KILL_POINTS=all` (70 steps, about 105 s here); by default a
/// deterministic subset — every `PGM_KILL_STRIDE`-th step (default 4) from `PGM_KILL_OFFSET`
/// (default: 1 + the day number modulo the stride, so four days cover every step), plus the last
/// step: 18 or 19 of the 70 — keeps the test within CI's time. A failure names the step.
@Suite(.serialized) struct KillInjectionTests {
  @Test func killInjectionChild() throws {
    guard let dir = ProcessInfo.processInfo.environment[childVariable] else { return }
    Interruption.install()
    do { try runMicro(URL(fileURLWithPath: dir)) } catch {
      FileHandle.standardError.write(Data("CHILD-ERROR \(error)\n".utf8))
      exit(3)
    }
  }

  static func steps(_ text: String) -> [String] {
    text.split(separator: "\n").filter { $0.hasPrefix("PGM-STEP ") }.map(String.init)
  }

  @Test func killedAtEveryFileSystemStepAndResumedIsByteIdentical() throws {
    if ProcessInfo.processInfo.environment[childVariable] != nil { return }
    let scratch = scratchDirectory("kill-points")
    defer { try? FileManager.default.removeItem(at: scratch) }
    // The uninterrupted run, in a child like the others, listing its steps.
    let straight = scratch.appendingPathComponent("straight")
    let reference = try runChild("killInjectionChild", environment: [childVariable: straight.path, "PGM_TRACE_STEPS": "1"])
    #expect(reference.status == 0, "\(reference.standardError.suffix(2000))")
    let steps = Self.steps(reference.standardError)
    try #require(steps.count > 30, "\(reference.standardError.suffix(3000))")
    let expected = try folderContents(straight.appendingPathComponent("run"))

    let env = ProcessInfo.processInfo.environment
    // The subset moves by one step each day, so that four days of CI cover every step.
    let day = Int(Date().timeIntervalSince1970 / 86_400)
    let stride = max(1, Int(env["PGM_KILL_STRIDE"] ?? "") ?? 4), offset = Int(env["PGM_KILL_OFFSET"] ?? "") ?? (1 + day % stride)
    var points = env["PGM_KILL_POINTS"] == "all" ? Array(1...steps.count) : Array(Swift.stride(from: offset, through: steps.count, by: stride))
    if !points.contains(steps.count) { points.append(steps.count) }
    print("kill injection: \(points.count) of \(steps.count) file-system steps (PGM_KILL_OFFSET=\(offset) PGM_KILL_STRIDE=\(stride))")
    for point in points {
      let dir = scratch.appendingPathComponent("kill-\(point)")
      let killed = try runChild("killInjectionChild", environment: [childVariable: dir.path, "PGM_KILL_AT_STEP": String(point)])
      #expect(killed.killed, "step \(point) (\(steps[point - 1])): the run was not killed (status \(killed.status))")
      let rerun = try runChild("killInjectionChild", environment: [childVariable: dir.path])
      #expect(rerun.status == 0, "after a kill at step \(point) (\(steps[point - 1])): \(rerun.standardError.suffix(1500))")
      let got = try folderContents(dir.appendingPathComponent("run"))
      let diff = differences(expected, got)
      #expect(diff.isEmpty, "after a kill at step \(point) (\(steps[point - 1])): \(diff)")
      try? FileManager.default.removeItem(at: dir)
    }
  }

  /// SIGINT stops the run at a safe point with a message and status 130; the rerun finishes and
  /// matches an uninterrupted run.
  @Test func interruptStopsCleanlyAndResumes() throws {
    if ProcessInfo.processInfo.environment[childVariable] != nil { return }
    let scratch = scratchDirectory("sigint")
    defer { try? FileManager.default.removeItem(at: scratch) }
    try runMicro(scratch.appendingPathComponent("straight"))
    let expected = try folderContents(scratch.appendingPathComponent("straight/run"))
    let dir = scratch.appendingPathComponent("interrupted")
    let executable = try FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")
    let child = Process()
    child.executableURL = URL(fileURLWithPath: executable)
    child.arguments = ["--testing-library", "swift-testing", "--filter", "killInjectionChild"]
    child.environment = ProcessInfo.processInfo.environment.merging([childVariable: dir.path]) { $1 }
    let errors = Pipe()
    child.standardOutput = FileHandle.nullDevice
    child.standardError = errors
    try child.run()
    // Interrupt once the teacher is under way (its first checkpoint exists).
    let checkpoint = dir.appendingPathComponent("run/teacher/checkpoint.safetensors")
    let deadline = Date().addingTimeInterval(120)
    while child.isRunning && !FileManager.default.fileExists(atPath: checkpoint.path) && Date() < deadline { usleep(2_000) }
    kill(child.processIdentifier, SIGINT)
    let text = String(decoding: errors.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
    child.waitUntilExit()
    if child.terminationStatus == 3 {
      #expect(text.contains("CHILD-ERROR interrupted; rerun the same command to continue"), "\(text.suffix(800))")
    }
    let rerun = try runChild("killInjectionChild", environment: [childVariable: dir.path])
    #expect(rerun.status == 0, "\(rerun.standardError.suffix(1500))")
    #expect(differences(expected, try folderContents(dir.appendingPathComponent("run"))).isEmpty)
  }
}
