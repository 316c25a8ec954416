export * from './checksums.js';
export * from './detectors.js';
export * from './scan.js';
