import Foundation
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A disk that fills up, for one test of this test binary re-launched in a child process: the
/// child's body writes until a write fails, the parent then checks what it reported and what it
/// left on disk. Two ways, both usable by an ordinary user and by root in CI:
///
/// - `tmpfs`: the child runs in its own mount namespace (`unshare -rm`) with a tmpfs of a few KiB
///   mounted over the folder: a real ENOSPC, from a real file system. Needs user namespaces
///   (or root); `canMountTmpfs` says whether this machine allows them. When the child ends, its
///   tmpfs vanishes, so the folder's files are copied out first ("space is available again").
/// - `fileSizeLimit`: the child sets RLIMIT_FSIZE on itself, with SIGXFSZ ignored, so that writes
///   past the limit fail with EFBIG. Works everywhere, but only limits the size of each file.
public enum LimitedDisk: Sendable, CustomStringConvertible {
  case tmpfs(kib: Int)
  case fileSizeLimit(bytes: Int)
  /// No limit: a plain child process, for comparison.
  case unlimited

  /// The variable through which the child learns its file size limit.
  static let limitVariable = "PGM_TEST_FILE_SIZE_LIMIT"
  /// The prefix of the lines a child reports on standard output.
  static let reportPrefix = "LIMITED-DISK "

  public var description: String {
    switch self {
    case .tmpfs(let kib): return "tmpfs of \(kib) KiB"
    case .fileSizeLimit(let bytes): return "file size limit of \(bytes) bytes"
    case .unlimited: return "no limit"
    }
  }

  /// Whether `unshare -rm` can mount a tmpfs here (tried once, in a throwaway child).
  public static let canMountTmpfs: Bool = {
    let folder = FileManager.default.temporaryDirectory.appendingPathComponent("pgm-tmpfs-probe-\(getpid())")
    try? FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
    defer { try? FileManager.default.removeItem(at: folder) }
    let probe = Process()
    probe.executableURL = URL(fileURLWithPath: "/usr/bin/unshare")
    probe.arguments = ["-rm", "sh", "-c", "mount -t tmpfs -o size=16k tmpfs \"$0\"", folder.path]
    probe.standardOutput = FileHandle.nullDevice
    probe.standardError = FileHandle.nullDevice
    guard (try? probe.run()) != nil else { return false }
    probe.waitUntilExit()
    return probe.terminationStatus == 0
  }()

  /// What the child did: its exit status (128 + n for a signal, as a shell reports it), the lines
  /// it reported, and where the files it wrote in the limited folder are now.
  public struct Outcome {
    public let status: Int32
    public let reports: [String]
    public let files: URL
  }

  /// Runs the test function named `test` of this binary in a child, with `environment` added,
  /// limited as `self` says. The child writes its files into `folder` (empty) and reports with
  /// `report(_:)`; it must start with `applyInChild()`.
  public func run(test: String, folder: URL, environment: [String: String]) throws -> Outcome {
    let executable = try FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")
    let testArguments = ["--testing-library", "swift-testing", "--filter", test]
    let child = Process()
    var childEnvironment = ProcessInfo.processInfo.environment.merging(environment) { $1 }
    var files = folder
    switch self {
    case .tmpfs(let kib):
      files = folder.deletingLastPathComponent().appendingPathComponent(folder.lastPathComponent + "-after")
      try FileManager.default.createDirectory(at: files, withIntermediateDirectories: true)
      child.executableURL = URL(fileURLWithPath: "/usr/bin/unshare")
      // $0 is the folder, "$@" the test binary and its arguments.
      let script = "mount -t tmpfs -o size=\(kib)k tmpfs \"$0\" || exit 97; \"$@\"; status=$?; "
        + "cp -a \"$0\"/. \"$FILES_AFTER\"/; exit $status"
      child.arguments = ["-rm", "sh", "-c", script, folder.path, executable] + testArguments
      childEnvironment["FILES_AFTER"] = files.path
    case .fileSizeLimit(let bytes):
      child.executableURL = URL(fileURLWithPath: executable)
      child.arguments = testArguments
      childEnvironment[Self.limitVariable] = String(bytes)
    case .unlimited:
      child.executableURL = URL(fileURLWithPath: executable)
      child.arguments = testArguments
    }
    child.environment = childEnvironment
    let output = Pipe()
    child.standardOutput = output
    child.standardError = FileHandle.nullDevice
    try child.run()
    let text = String(decoding: output.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
    child.waitUntilExit()
    let status = child.terminationReason == .uncaughtSignal ? 128 + child.terminationStatus : child.terminationStatus
    let reports = text.split(separator: "\n").compactMap { line in
      line.hasPrefix(Self.reportPrefix) ? String(line.dropFirst(Self.reportPrefix.count)) : nil
    }
    return Outcome(status: status, reports: reports, files: files)
  }

  /// In the child: applies the file size limit, if the parent asked for one.
  public static func applyInChild() {
    guard let text = ProcessInfo.processInfo.environment[limitVariable], let bytes = UInt64(text) else { return }
    signal(SIGXFSZ, SIG_IGN)  // a write past the limit then fails with EFBIG instead of killing us
    var limit = rlimit(rlim_cur: rlim_t(bytes), rlim_max: rlim_t(bytes))
    #if os(Linux)
    setrlimit(__rlimit_resource_t(RLIMIT_FSIZE.rawValue), &limit)
    #else
    setrlimit(RLIMIT_FSIZE, &limit)
    #endif
  }

  /// In the child: one line for the parent (standard output; not a file, so no limit applies).
  public static func report(_ line: String) {
    print(reportPrefix + line.replacingOccurrences(of: "\n", with: " "))
    fflush(stdout)
  }
}
