import { defineConfig } from "vite";

// esbuild compiles the TSX (automatic JSX runtime): no React plugin needed for a static build.
export default defineConfig({
  esbuild: { jsx: "automatic" },
  build: { outDir: "dist", emptyOutDir: true, sourcemap: false },
});
