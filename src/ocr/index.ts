export { OcrEngine, defaultLangPath } from './engine';
export type { OcrBox, OcrLayout, OcrResult, OcrWord } from './engine';
