// Attributes on files, groups and datasets: round trips, overwrites and type checks.
import CHDF5  // only to write attributes the way other programs do
import Foundation
import Testing
@testable import HDF5

@Suite struct AttributeTests {
  @Test func everyKindRoundTripsOnFilesGroupsAndDatasets() throws {
    let directory = try TestDirectory()
    let path = directory.path("attrs.h5")
    do {
      let file = try H5File.create(path)
      let group = try file.createGroup("teacher/round1")
      let dataset = try group.createDataset("logits", of: Float.self, shape: [2, 2])
      for attributes in [file.attributes, group.attributes, dataset.attributes] {
        try attributes.set("name", "PGM teacher — ✓ unicode")
        try attributes.set("steps", 1_000_000)
        try attributes.set("big", Int64.min)
        try attributes.set("temperature", 0.75)
        try attributes.set("shape", [Int64(2), 3, 4])
        try attributes.set("weights", [0.5, -1.25])
        try attributes.set("empty", "")
        try attributes.set("none", [Int64]())
      }
    }
    let file = try H5File.open(path)
    let group = try file.openGroup("teacher/round1")
    for attributes in [file.attributes, group.attributes,
                       try group.openDataset("logits", of: Float.self).attributes] {
      #expect(try attributes.string("name") == "PGM teacher — ✓ unicode")
      #expect(try attributes.int64("steps") == 1_000_000)
      #expect(try attributes.int64("big") == .min)
      #expect(try attributes.double("temperature") == 0.75)
      #expect(try attributes.int64Array("shape") == [2, 3, 4])
      #expect(try attributes.doubleArray("weights") == [0.5, -1.25])
      #expect(try attributes.string("empty") == "")
      #expect(try attributes.int64Array("none") == [])
      #expect(try attributes.value("steps") == .int64(1_000_000))
      #expect(try attributes.names() == ["big", "empty", "name", "none", "shape", "steps",
                                         "temperature", "weights"])
      #expect(try attributes.contains("steps"))
      #expect(try !attributes.contains("missing"))
    }
  }

  @Test func overwriteInPlaceAndWithANewType() throws {
    let directory = try TestDirectory()
    let path = directory.path("over.h5")
    do {
      let file = try H5File.create(path)
      let attributes = file.attributes
      try attributes.set("committed_rows", 10)
      try attributes.set("committed_rows", 20)  // same type: rewritten in place
      try attributes.set("label", "short")
      try attributes.set("label", "a much longer string than before")
      try attributes.set("changing", 3)
      try attributes.set("changing", "now a string")  // new type: replaced
      try attributes.set("list", [Int64(1), 2])
      try attributes.set("list", [Int64(1), 2, 3])  // new length: replaced
      try attributes.set("gone", 1.0)
      try attributes.remove("gone")
      #expect((#expect(throws: H5Error.self) { try attributes.remove("gone") })?.kind == .notFound)
    }
    let attributes = try H5File.open(path).attributes
    #expect(try attributes.int64("committed_rows") == 20)
    #expect(try attributes.string("label") == "a much longer string than before")
    #expect(try attributes.string("changing") == "now a string")
    #expect(try attributes.int64Array("list") == [1, 2, 3])
    #expect(try attributes.names() == ["changing", "committed_rows", "label", "list"])
  }

  @Test func readingTheWrongTypeOrAMissingAttributeThrows() throws {
    let directory = try TestDirectory()
    let file = try H5File.create(directory.path("types.h5"))
    let attributes = file.attributes
    try attributes.set("text", "hello")
    try attributes.set("count", 3)
    try attributes.set("rate", 0.1)
    try attributes.set("dims", [Int64(1), 2])
    func kind(_ body: () throws -> Any) -> H5Error.Kind? {
      do { _ = try body(); return nil } catch let error as H5Error { return error.kind } catch { return nil }
    }
    #expect(kind { try attributes.int64("text") } == .typeMismatch)
    #expect(kind { try attributes.double("count") } == .typeMismatch)
    #expect(kind { try attributes.int64("rate") } == .typeMismatch)
    #expect(kind { try attributes.string("count") } == .typeMismatch)
    #expect(kind { try attributes.int64("dims") } == .typeMismatch)
    #expect(kind { try attributes.doubleArray("dims") } == .typeMismatch)
    #expect(kind { try attributes.string("missing") } == .notFound)
    #expect(kind { try file.openGroup("nowhere").attributes.names() } == .notFound)
    #expect(kind { try attributes.set("huge", [Int64](repeating: 0, count: 100_000)) } == .invalidArgument)
    let error = #expect(throws: H5Error.self) { try attributes.int64("text") }
    #expect(error?.description.contains("string") == true)
    #expect(error?.description.contains("@text") == true)
  }

  @Test func readOnlyFilesRefuseAttributeWrites() throws {
    let directory = try TestDirectory()
    let path = directory.path("ro.h5")
    try H5File.create(path).attributes.set("a", 1)
    let file = try H5File.open(path)
    #expect((#expect(throws: H5Error.self) { try file.attributes.set("a", 2) })?.kind == .notWritable)
    #expect(try file.attributes.int64("a") == 1)
  }

  @Test func h5dumpReadsStringsAsStrings() throws {
    guard FileManager.default.isExecutableFile(atPath: "/usr/bin/h5dump") else {
      print("SKIPPED h5dumpReadsStringsAsStrings: h5dump is not installed (Debian: hdf5-tools)")
      return
    }
    let directory = try TestDirectory()
    let path = directory.path("strings.h5")
    do {
      let file = try H5File.create(path)
      try file.attributes.set("tokenizer", "gpt2")
      try file.attributes.set("vocab", [Int64(50257)])
    }
    let output = try run("/usr/bin/h5dump", ["-A", path])
    #expect(output.contains("\"gpt2\""), "h5dump -A output:\n\(output)")
    #expect(output.contains("H5T_STRING"))
    #expect(output.contains("50257"))
  }
}

@Suite struct ForeignAttributeTests {
  /// Other writers (numpy bytes in h5py, C programs) store fixed-length strings and 32-bit
  /// numbers; they read as String, Int64 and Double.
  @Test func fixedLengthStringsAndNarrowNumbersRead() throws {
    let directory = try TestDirectory()
    let path = directory.path("foreign.h5")
    do {
      let file = try H5File.create(path)
      H5Library.serialized {
        let fileID = file.handle.id
        let scalar = H5Screate(H5S_SCALAR)
        defer { H5Sclose(scalar) }
        let text = H5Tcopy(pgm_h5t_c_s1())
        defer { H5Tclose(text) }
        H5Tset_size(text, 8)
        H5Tset_strpad(text, H5T_STR_NULLPAD)
        let a = H5Acreate2(fileID, "fixed", text, scalar, pgm_h5p_default(), pgm_h5p_default())
        var bytes: [CChar] = Array("gpt2".utf8CString) + [0, 0, 0]  // 8 bytes, NUL padded
        #expect(H5Awrite(a, text, &bytes) >= 0)
        H5Aclose(a)
        let i = H5Acreate2(fileID, "int32", pgm_h5t_native_int32(), scalar, pgm_h5p_default(), pgm_h5p_default())
        var v: Int32 = -7
        #expect(H5Awrite(i, pgm_h5t_native_int32(), &v) >= 0)
        H5Aclose(i)
        let f = H5Acreate2(fileID, "float32", pgm_h5t_native_float(), scalar, pgm_h5p_default(), pgm_h5p_default())
        var x: Float = 0.5
        #expect(H5Awrite(f, pgm_h5t_native_float(), &x) >= 0)
        H5Aclose(f)
      }
    }
    let attributes = try H5File.open(path).attributes
    #expect(try attributes.string("fixed") == "gpt2")
    #expect(try attributes.int64("int32") == -7)
    #expect(try attributes.double("float32") == 0.5)
  }
}
