import { describe, expect, it } from 'vitest'
import { fileKind, formatBytes, formatSpeed, shortHash, thresholdSentence } from './format'

describe('format', () => {
  it('writes sizes in decimal units', () => {
    expect(formatBytes(0)).toBe('0 B')
    expect(formatBytes(999)).toBe('999 B')
    expect(formatBytes(1_000_000_000)).toBe('1 GB')
    expect(formatBytes(2_450_000)).toBe('2.45 MB')
    expect(formatBytes(123_400)).toBe('123 KB')
    expect(formatSpeed(1_500_000)).toBe('1.5 MB/s')
    expect(formatSpeed(0)).toBe('')
  })

  it('shortens a hash to its ends', () => {
    expect(shortHash('0123456789abcdef0123')).toBe('01234567…0123')
    expect(shortHash('abc')).toBe('abc')
  })

  it('says what a threshold means in plain words', () => {
    expect(thresholdSentence(2, 3)).toBe('Any 2 of 3 servers rebuild it; 1 server alone learns nothing.')
    expect(thresholdSentence(4, 7)).toBe('Any 4 of 7 servers rebuild it; any 3 together learn nothing.')
  })

  it('groups files by kind from the extension', () => {
    expect(fileKind('a.PDF')).toBe('documents')
    expect(fileKind('b.jpeg')).toBe('images')
    expect(fileKind('c.tar.gz')).toBe('archives')
    expect(fileKind('Makefile')).toBe('other')
  })
})
