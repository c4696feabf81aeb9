// A minimal ZIP reader for what torch.save writes: stored (uncompressed) entries, data
// descriptors, ZIP64 records. Written here rather than using ZIPFoundation because tensor views
// need random access into an entry (ZIPFoundation only streams an entry from its start), because
// ZIPFoundation's entry iterator silently stops at a damaged record instead of reporting it, and
// because it adds untrusted 64-bit sizes and offsets without overflow checks. Every offset and
// size here is checked against the file before anything is read or allocated.
import Foundation

/// One central-directory record.
struct ZipEntry: Sendable {
  let name: String
  let method: UInt16
  let flags: UInt16
  let crc32: UInt32
  let compressedSize: Int
  let size: Int
  let localHeaderOffset: Int
}

/// A read-only view of a ZIP archive's directory, reading entry data on demand.
struct ZipArchive: Sendable {
  typealias Problem = TorchCheckpointError.Problem

  let source: any ByteSource
  /// Entries in central-directory order.
  let entries: [ZipEntry]
  private let indexByName: [String: Int]
  /// The outcome of each entry's CRC-32 check, so that `readVerified` checks an entry once however
  /// many tensor views share it (and refuses a damaged one without recomputing).
  private let checks = EntryChecks()

  private static let endOfCentralDirectorySize = 22
  private static let maxCommentLength = 0xFFFF

  init(source: any ByteSource) throws {
    self.source = source
    let (count, directoryOffset, directorySize) = try Self.locateCentralDirectory(source)
    let directory = try Self.read(source, at: directoryOffset, count: directorySize)
    var entries: [ZipEntry] = []
    entries.reserveCapacity(count)
    var index: [String: Int] = [:]
    var position = 0
    for ordinal in 0..<count {
      let entry = try Self.parseCentralRecord(directory, at: &position, ordinal: ordinal, fileSize: source.size)
      guard index[entry.name] == nil else { throw Problem.malformedZip("entry name \(entry.name) appears twice") }
      index[entry.name] = entries.count
      entries.append(entry)
    }
    self.entries = entries
    self.indexByName = index
  }

  func entry(_ name: String) -> ZipEntry? { indexByName[name].map { entries[$0] } }

  /// `count` bytes of a stored entry's data starting `offset` bytes into it.
  func read(_ entry: ZipEntry, at offset: Int = 0, count: Int) throws -> [UInt8] {
    let start = try dataStart(of: entry)
    let (end, overflow) = offset.addingReportingOverflow(count)
    guard offset >= 0, count >= 0, !overflow, end <= entry.size else {
      throw Problem.malformedZip("read of \(count) bytes at \(offset) lies outside entry \(entry.name) (\(entry.size) bytes)")
    }
    return try Self.read(source, at: start + offset, count: count)
  }

  /// The whole entry, checked against its CRC-32.
  func readAll(_ entry: ZipEntry) throws -> [UInt8] {
    let bytes = try read(entry, count: entry.size)
    try record(entry, crc: CRC32.checksum(bytes))
    return bytes
  }

  /// Checks an entry's CRC-32 reading at most `chunk` bytes at a time.
  func verifyChecksum(_ entry: ZipEntry, chunk: Int = 1 << 20) throws {
    var crc = CRC32()
    var done = 0
    while done < entry.size {
      let n = min(chunk, entry.size - done)
      crc.update(try read(entry, at: done, count: n))
      done += n
    }
    try record(entry, crc: crc.value)
  }

  /// Like `read`, but the entry's CRC-32 is checked (once per archive) before any of its bytes are
  /// returned. Tensor reads go through here: a flipped byte in a storage would otherwise load as a
  /// different weight. The CRC is the central directory's, which is also right for entries whose
  /// local header defers it to a data descriptor (torch writes those).
  func readVerified(_ entry: ZipEntry, at offset: Int = 0, count: Int) throws -> [UInt8] {
    switch checks.outcome(entry.name) {
    case true?: return try read(entry, at: offset, count: count)
    case false?: throw Problem.checksumMismatch(entry: entry.name)
    case nil:
      // The usual case, a tensor covering its whole storage: one read serves the check and the caller.
      if offset == 0 && count == entry.size { return try readAll(entry) }
      try verifyChecksum(entry)  // a view of part of a storage: check the whole entry in bounded chunks
      return try read(entry, at: offset, count: count)
    }
  }

  /// Remembers whether `entry` matched its recorded CRC-32, and throws if it did not.
  private func record(_ entry: ZipEntry, crc: UInt32) throws {
    checks.record(entry.name, intact: crc == entry.crc32)
    guard crc == entry.crc32 else { throw Problem.checksumMismatch(entry: entry.name) }
  }

  /// Absolute file offset of a stored entry's data, from its local header.
  func dataStart(of entry: ZipEntry) throws -> Int {
    guard entry.flags & 1 == 0 else { throw Problem.unsupportedEntry(name: entry.name, "encrypted entries are not supported") }
    guard entry.method == 0 else {
      throw Problem.unsupportedEntry(name: entry.name,
                                     "compressed with method \(entry.method); torch.save writes stored (uncompressed) entries")
    }
    let header = try Self.read(source, at: entry.localHeaderOffset, count: 30)
    guard Self.u32(header, 0) == 0x0403_4B50 else {
      throw Problem.malformedZip("no local header signature at offset \(entry.localHeaderOffset) for entry \(entry.name)")
    }
    let start = entry.localHeaderOffset + 30 + Int(Self.u16(header, 26)) + Int(Self.u16(header, 28))
    let (end, overflow) = start.addingReportingOverflow(entry.size)
    guard !overflow, end <= source.size else {
      throw Problem.malformedZip("data of entry \(entry.name) (\(entry.size) bytes at \(start)) runs past the end of the file")
    }
    return start
  }

  // MARK: - Directory parsing

  /// Finds the end-of-central-directory record (and the ZIP64 one when present) and returns the
  /// entry count and the central directory's position and size, all checked against the file.
  private static func locateCentralDirectory(_ source: any ByteSource) throws -> (Int, Int, Int) {
    guard source.size >= endOfCentralDirectorySize else {
      throw Problem.notAZip("file is \(source.size) bytes, too short for a zip end record")
    }
    let tailLength = min(source.size, endOfCentralDirectorySize + maxCommentLength)
    let tailStart = source.size - tailLength
    let tail = try read(source, at: tailStart, count: tailLength)
    // Search backwards for the signature; prefer a record whose comment ends exactly at the end
    // of the file, else accept the last one found.
    var found: Int?
    var candidate = tailLength - endOfCentralDirectorySize
    while candidate >= 0 {
      if u32(tail, candidate) == 0x0605_4B50 {
        if found == nil { found = candidate }
        if candidate + endOfCentralDirectorySize + Int(u16(tail, candidate + 20)) == tailLength {
          found = candidate
          break
        }
      }
      candidate -= 1
    }
    guard let recordInTail = found else { throw Problem.notAZip("no end-of-central-directory record") }
    let record = Array(tail[recordInTail ..< recordInTail + endOfCentralDirectorySize])
    let recordOffset = tailStart + recordInTail
    var count = UInt64(u16(record, 10))
    var directorySize = UInt64(u32(record, 12))
    var directoryOffset = UInt64(u32(record, 16))
    guard u16(record, 4) == 0, u16(record, 6) == 0 || u16(record, 6) == 0xFFFF else {
      throw Problem.malformedZip("multi-disk archives are not supported")
    }

    // ZIP64: a locator sits just before the classic record and points at the ZIP64 record.
    if recordOffset >= 20 {
      let locator = try read(source, at: recordOffset - 20, count: 20)
      if u32(locator, 0) == 0x0706_4B50 {
        let zip64Offset = u64(locator, 8)
        guard zip64Offset <= UInt64(recordOffset - 20), recordOffset - 20 - Int(zip64Offset) >= 56 else {
          throw Problem.malformedZip("ZIP64 end record offset \(zip64Offset) is outside the file")
        }
        let zip64 = try read(source, at: Int(zip64Offset), count: 56)
        guard u32(zip64, 0) == 0x0606_4B50 else { throw Problem.malformedZip("no ZIP64 end record at offset \(zip64Offset)") }
        count = u64(zip64, 32)
        directorySize = u64(zip64, 40)
        directoryOffset = u64(zip64, 48)
      } else if count == 0xFFFF || directorySize == 0xFFFF_FFFF || directoryOffset == 0xFFFF_FFFF {
        throw Problem.malformedZip("end record asks for ZIP64 values but there is no ZIP64 locator")
      }
    }
    guard directoryOffset <= UInt64(recordOffset), directorySize <= UInt64(recordOffset) - directoryOffset else {
      throw Problem.malformedZip("central directory (\(directorySize) bytes at \(directoryOffset)) lies outside the file")
    }
    // Each record takes at least 46 bytes, which bounds the count by the file size.
    guard count <= directorySize / 46 else {
      throw Problem.malformedZip("\(count) entries cannot fit in a \(directorySize)-byte central directory")
    }
    return (Int(count), Int(directoryOffset), Int(directorySize))
  }

  private static func parseCentralRecord(_ directory: [UInt8], at position: inout Int, ordinal: Int,
                                         fileSize: Int) throws -> ZipEntry {
    func malformed(_ why: String) -> Problem { .malformedZip("central directory record \(ordinal): \(why)") }
    guard directory.count - position >= 46, u32(directory, position) == 0x0201_4B50 else {
      throw malformed("missing or truncated")
    }
    let base = position
    let nameLength = Int(u16(directory, base + 28))
    let extraLength = Int(u16(directory, base + 30))
    let commentLength = Int(u16(directory, base + 32))
    let recordLength = 46 + nameLength + extraLength + commentLength
    guard directory.count - base >= recordLength else { throw malformed("name or extra field runs past the directory") }
    position = base + recordLength

    let name = String(decoding: directory[base + 46 ..< base + 46 + nameLength], as: UTF8.self)
    var compressedSize = UInt64(u32(directory, base + 20))
    var size = UInt64(u32(directory, base + 24))
    var offset = UInt64(u32(directory, base + 42))

    // ZIP64 extra field (id 1): 8-byte replacements, in this order, for each field saturated.
    var extra = base + 46 + nameLength
    let extraEnd = extra + extraLength
    while extraEnd - extra >= 4 {
      let id = u16(directory, extra)
      let length = Int(u16(directory, extra + 2))
      guard extraEnd - extra - 4 >= length else { throw malformed("extra field of entry \(name) is truncated") }
      if id == 1 {
        var field = extra + 4
        let fieldEnd = field + length
        func next() throws -> UInt64 {
          guard fieldEnd - field >= 8 else { throw malformed("ZIP64 extra field of entry \(name) is too short") }
          defer { field += 8 }
          return u64(directory, field)
        }
        if size == 0xFFFF_FFFF { size = try next() }
        if compressedSize == 0xFFFF_FFFF { compressedSize = try next() }
        if offset == 0xFFFF_FFFF { offset = try next() }
      }
      extra += 4 + length
    }
    guard size <= UInt64(fileSize), compressedSize <= UInt64(fileSize), offset <= UInt64(fileSize) else {
      throw malformed("sizes or offset of entry \(name) exceed the file size")
    }
    let method = u16(directory, base + 10)
    guard method != 0 || size == compressedSize else {
      throw malformed("stored entry \(name) has different compressed (\(compressedSize)) and plain (\(size)) sizes")
    }
    return ZipEntry(name: name, method: method, flags: u16(directory, base + 8), crc32: u32(directory, base + 16),
                    compressedSize: Int(compressedSize), size: Int(size), localHeaderOffset: Int(offset))
  }

  private static func read(_ source: any ByteSource, at offset: Int, count: Int) throws -> [UInt8] {
    do { return try source.read(at: offset, count: count) } catch let error as ByteSourceError {
      throw Problem.io(error.description)
    }
  }

  // Little-endian fields; callers have checked that the bytes exist.
  private static func u16(_ b: [UInt8], _ i: Int) -> UInt16 { UInt16(b[i]) | UInt16(b[i + 1]) << 8 }
  private static func u32(_ b: [UInt8], _ i: Int) -> UInt32 { UInt32(u16(b, i)) | UInt32(u16(b, i + 2)) << 16 }
  private static func u64(_ b: [UInt8], _ i: Int) -> UInt64 { UInt64(u32(b, i)) | UInt64(u32(b, i + 4)) << 32 }
}

/// Whether each checked entry matched its CRC-32, by name. A class with a lock because the archive
/// is a `Sendable` value that concurrent tensor reads share.
private final class EntryChecks: @unchecked Sendable {  // `intact` is only touched under `lock`
  private let lock = NSLock()
  private var intact: [String: Bool] = [:]

  func outcome(_ name: String) -> Bool? { lock.withLock { intact[name] } }
  func record(_ name: String, intact matches: Bool) { lock.withLock { intact[name] = matches } }
}
