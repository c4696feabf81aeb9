import Foundation

/// Turns the paths given on a command line into the list of text files they name.
public enum CorpusFiles {
  /// Files stay as given; a folder stands for every non-hidden regular file under it, in path order
  /// (so that training and benchmarks see the same order on every machine).
  public static func expand(_ paths: [URL]) throws -> [URL] {
    let fm = FileManager.default
    var files: [URL] = []
    for path in paths {
      var isDirectory: ObjCBool = false
      guard fm.fileExists(atPath: path.path, isDirectory: &isDirectory) else {
        throw TokenizerError.fileNotFound(path: path.path)
      }
      guard isDirectory.boolValue else {
        files.append(path)
        continue
      }
      guard let enumerator = fm.enumerator(at: path, includingPropertiesForKeys: [.isRegularFileKey],
                                           options: [.skipsHiddenFiles]) else {
        throw TokenizerError.fileNotFound(path: path.path)
      }
      var found: [URL] = []
      for case let url as URL in enumerator
      where (try? url.resourceValues(forKeys: [.isRegularFileKey]).isRegularFile) == true {
        found.append(url)
      }
      guard !found.isEmpty else {
        throw TokenizerError.invalidArgument("no files in the folder \(path.path)")
      }
      files += found.sorted { $0.path < $1.path }
    }
    return files
  }

  /// The texts of some files, which must be UTF-8.
  public static func readTexts(_ files: [URL]) throws -> [String] {
    try files.map { file in
      guard let text = String(bytes: try FileIO.readBytes(file), encoding: .utf8) else {
        throw TokenizerError.malformedFile(path: file.path, reason: "not UTF-8 text")
      }
      return text
    }
  }
}
