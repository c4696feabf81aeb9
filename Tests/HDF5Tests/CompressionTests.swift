// Chunked + deflate datasets are really compressed, and other tools see the filters.
import Foundation
import Testing
@testable import HDF5

@Suite struct CompressionTests {
  /// A compressible payload: 1M floats with few distinct values (4 MiB raw).
  private static let payload: [Float] = (0..<(1 << 20)).map { Float(($0 / 64) % 16) }

  private func writeFile(_ path: String, compression: H5Compression) throws {
    let file = try H5File.create(path)
    let dataset = try file.createDataset("payload", of: Float.self, shape: [0, 1024],
                                         extendible: true, chunkShape: [64, 1024],
                                         compression: compression)
    try dataset.append(Self.payload)
    try file.close()
  }

  @Test func deflateShrinksACompressiblePayload() throws {
    #expect(H5Library.isDeflateAvailable)
    let directory = try TestDirectory()
    let plain = directory.path("plain.h5"), packed = directory.path("packed.h5")
    try writeFile(plain, compression: .none)
    try writeFile(packed, compression: .deflate(level: 4, shuffle: true))
    let raw = Self.payload.count * 4
    #expect(try fileSize(plain) >= raw)
    let packedSize = try fileSize(packed)
    #expect(packedSize < raw / 20, "compressed file is \(packedSize) bytes")
    let file = try H5File.open(packed)
    let dataset = try file.openDataset("payload", of: Float.self)
    #expect(dataset.isFiltered)
    #expect(try dataset.read() == Self.payload)
    #expect(try dataset.read(rows: 100..<103) == Array(Self.payload[(100 * 1024)..<(103 * 1024)]))
  }

  @Test func h5dumpShowsTheFilters() throws {
    let h5dump = ["/usr/bin/h5dump", "/usr/local/bin/h5dump"].first {
      FileManager.default.isExecutableFile(atPath: $0)
    }
    guard let h5dump else {
      print("SKIPPED h5dumpShowsTheFilters: h5dump is not installed (Debian: hdf5-tools)")
      return
    }
    let directory = try TestDirectory()
    let path = directory.path("packed.h5")
    try writeFile(path, compression: .deflate(level: 6, shuffle: true))
    let output = try run(h5dump, ["-H", "-p", path])
    #expect(output.contains("DEFLATE"), "h5dump -H -p output:\n\(output)")
    #expect(output.contains("LEVEL 6"))
    #expect(output.contains("SHUFFLE"))
    #expect(output.contains("CHUNKED ( 64, 1024 )"))
    #expect(output.contains("H5S_UNLIMITED"))
  }
}

/// Runs a program and returns its standard output.
func run(_ executable: String, _ arguments: [String]) throws -> String {
  let process = Process()
  process.executableURL = URL(fileURLWithPath: executable)
  process.arguments = arguments
  let pipe = Pipe()
  process.standardOutput = pipe
  process.standardError = FileHandle.nullDevice
  try process.run()
  let data = pipe.fileHandleForReading.readDataToEndOfFile()
  process.waitUntilExit()
  return String(decoding: data, as: UTF8.self)
}
