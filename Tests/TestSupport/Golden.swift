import Foundation

/// Locates the reference data produced by the public PyTorch code (`../shared/golden` beside the
/// checkout). `PGM_GOLDEN_DIR` overrides the search. Tests fail, rather than skip, when it is absent:
/// parity with these files is the definition of correctness.
public enum Golden {
  public static let directory: URL = {
    let fm = FileManager.default
    if let env = ProcessInfo.processInfo.environment["PGM_GOLDEN_DIR"], !env.isEmpty {
      return URL(fileURLWithPath: env)
    }
    // Walk up from this source file: <repo>/Tests/TestSupport/Golden.swift → <repo>/../shared/golden.
    var dir = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
    for _ in 0..<6 {
      dir = dir.deletingLastPathComponent()
      let candidate = dir.appendingPathComponent("shared/golden")
      if fm.fileExists(atPath: candidate.appendingPathComponent("README.md").path) { return candidate }
    }
    return URL(fileURLWithPath: "/work/shared/golden")
  }()

  /// A file or folder inside the golden directory; records a clear failure reason if missing.
  public static func url(_ relative: String) throws -> URL {
    let url = directory.appendingPathComponent(relative)
    guard FileManager.default.fileExists(atPath: url.path) else {
      throw GoldenMissing(path: url.path)
    }
    return url
  }

  public struct GoldenMissing: Error, CustomStringConvertible {
    public let path: String
    public var description: String {
      "golden reference data not found at \(path); set PGM_GOLDEN_DIR to the folder of ../shared/golden"
    }
  }
}
