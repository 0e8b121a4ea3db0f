import Foundation

/// BERT's tokenizer (HF `BertNormalizer` + `BertPreTokenizer` + `WordPiece` + `[CLS] x [SEP]`):
///
/// 1. clean: drop NUL, U+FFFD and control characters; turn every whitespace character into a space;
/// 2. put spaces around CJK ideographs; 3. strip accents (NFD, drop nonspacing marks), then lower-case;
/// 4. split on whitespace and split out every punctuation character;
/// 5. WordPiece: greedy longest match from the vocabulary, continuations prefixed `##`; a word with an
///    unmatched piece, or longer than 100 characters, becomes `[UNK]`;
/// 6. `[CLS]` + pieces + `[SEP]`, truncated to `maxLength` ids in all.
public struct WordPieceTokenizer: Sendable {
    public let vocabulary: [String: Int32]
    public let unknown: Int32, classify: Int32, separator: Int32
    public let maxLength: Int
    let maxCharactersPerWord = 100

    /// Reads `vocab.txt` (one token per line; the line number is the id).
    public init(vocabularyFile path: String, maxLength: Int = 256) throws(QuantaError) {
        let text: String
        do { text = try String(contentsOfFile: path, encoding: .utf8) } catch {
            throw .file(path: path, reason: "cannot be read as UTF-8 text")
        }
        var vocabulary = [String: Int32]()
        for (i, line) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() where !line.isEmpty {
            let token = line.hasSuffix("\r") ? String(line.dropLast()) : String(line)
            if vocabulary[token] == nil { vocabulary[token] = Int32(i) }
        }
        try self.init(vocabulary: vocabulary, maxLength: maxLength, source: path)
    }

    public init(vocabulary: [String: Int32], maxLength: Int = 256, source: String = "vocabulary") throws(QuantaError) {
        func id(_ token: String) throws(QuantaError) -> Int32 {
            guard let id = vocabulary[token] else { throw .file(path: source, reason: "the vocabulary has no \(token) token") }
            return id
        }
        guard maxLength >= 2 else { throw .invalidArgument("maxLength must be at least 2, got \(maxLength)") }
        self.vocabulary = vocabulary
        self.unknown = try id("[UNK]")
        self.classify = try id("[CLS]")
        self.separator = try id("[SEP]")
        self.maxLength = maxLength
    }

    /// `[CLS]` + WordPiece ids of `text` + `[SEP]`, at most `maxLength` ids.
    public func encode(_ text: String) -> [Int32] {
        var ids = [classify]
        for word in Self.preTokenize(Self.normalize(text)) {
            ids += wordPieces(word)
            if ids.count >= maxLength - 1 { break }
        }
        return Array(ids.prefix(maxLength - 1)) + [separator]
    }

    /// Steps 1-3: clean, space CJK, lower-case and strip accents.
    static func normalize(_ text: String) -> String {
        var cleaned = String.UnicodeScalarView()
        for scalar in text.unicodeScalars {
            if scalar.value == 0 || scalar.value == 0xFFFD || isControl(scalar) { continue }
            if isWhitespace(scalar) { cleaned.append(" "); continue }
            if isCJK(scalar) { cleaned.append(" "); cleaned.append(scalar); cleaned.append(" "); continue }
            cleaned.append(scalar)
        }
        let decomposed = String(cleaned).decomposedStringWithCanonicalMapping.unicodeScalars
        return String(String.UnicodeScalarView(decomposed.filter { $0.properties.generalCategory != .nonspacingMark })).lowercased()
    }

    /// Step 4: whitespace split with punctuation split out.
    static func preTokenize(_ text: String) -> [String] {
        var words = [String](), current = String.UnicodeScalarView()
        func flush() { if !current.isEmpty { words.append(String(current)); current = .init() } }
        for scalar in text.unicodeScalars {
            if isWhitespace(scalar) { flush() } else if isPunctuation(scalar) { flush(); words.append(String(scalar)) } else { current.append(scalar) }
        }
        flush()
        return words
    }

    /// Step 5 for one word.
    func wordPieces(_ word: String) -> [Int32] {
        let characters = Array(word.unicodeScalars)
        guard characters.count <= maxCharactersPerWord else { return [unknown] }
        var pieces = [Int32](), start = 0
        while start < characters.count {
            var end = characters.count, found: Int32?
            while start < end {
                var piece = String(String.UnicodeScalarView(characters[start..<end]))
                if start > 0 { piece = "##" + piece }
                if let id = vocabulary[piece] { found = id; break }
                end -= 1
            }
            guard let id = found else { return [unknown] }
            pieces.append(id)
            start = end
        }
        return pieces
    }

    static func isWhitespace(_ s: Unicode.Scalar) -> Bool {
        s == " " || s == "\t" || s == "\n" || s == "\r" || s.properties.generalCategory == .spaceSeparator
    }

    static func isControl(_ s: Unicode.Scalar) -> Bool {
        if s == "\t" || s == "\n" || s == "\r" { return false }
        let category = s.properties.generalCategory
        return category == .control || category == .format
    }

    static func isPunctuation(_ s: Unicode.Scalar) -> Bool {
        let v = s.value
        if (33...47).contains(v) || (58...64).contains(v) || (91...96).contains(v) || (123...126).contains(v) { return true }
        switch s.properties.generalCategory {
        case .connectorPunctuation, .dashPunctuation, .openPunctuation, .closePunctuation,
             .initialPunctuation, .finalPunctuation, .otherPunctuation: return true
        default: return false
        }
    }

    static func isCJK(_ s: Unicode.Scalar) -> Bool {
        let v = s.value
        return (0x4E00...0x9FFF).contains(v) || (0x3400...0x4DBF).contains(v) || (0x20000...0x2A6DF).contains(v)
            || (0x2A700...0x2B73F).contains(v) || (0x2B740...0x2B81F).contains(v) || (0x2B820...0x2CEAF).contains(v)
            || (0xF900...0xFAFF).contains(v) || (0x2F800...0x2FA1F).contains(v)
    }
}
