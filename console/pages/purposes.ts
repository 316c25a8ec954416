/** Purpose codes by name: the code itself until the server publishes the names. */
export const purposeName = (code: string): string => code;
