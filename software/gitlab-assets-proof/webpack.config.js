// A stand-in for gitlab-rails' config/webpack.config.js: entry points per page, hashed names,
// CSS extracted to files, images as hashed assets, and a manifest the Rails side reads.
const path = require('path');
const MiniCssExtractPlugin = require('mini-css-extract-plugin');
const { WebpackManifestPlugin } = require('webpack-manifest-plugin');

const ROOT = __dirname;

module.exports = {
  mode: 'production',
  context: ROOT,
  entry: {
    main: './app/assets/javascripts/main.js',
  },
  output: {
    path: path.join(ROOT, 'public/assets'),
    publicPath: '/assets/',
    filename: '[name]-[contenthash:16].js',
    chunkFilename: '[name]-[contenthash:16].chunk.js',
    assetModuleFilename: '[name]-[contenthash:16][ext]',
    hashFunction: 'sha256',
    clean: true,
  },
  resolve: {
    alias: { vue$: 'vue/dist/vue.runtime.esm.js' },
  },
  module: {
    rules: [
      { test: /\.css$/, use: [MiniCssExtractPlugin.loader, 'css-loader'] },
      { test: /\.(svg|png)$/, type: 'asset/resource' },
    ],
  },
  optimization: {
    moduleIds: 'deterministic',
    chunkIds: 'deterministic',
    splitChunks: { chunks: 'all', cacheGroups: { vendors: { test: /node_modules/, name: 'vendors' } } },
  },
  // no absolute paths or timestamps in the output
  devtool: false,
  performance: { hints: false },
  plugins: [
    new MiniCssExtractPlugin({
      filename: '[name]-[contenthash:16].css',
      chunkFilename: '[name]-[contenthash:16].chunk.css',
    }),
    new WebpackManifestPlugin({ fileName: 'manifest.json', publicPath: '/assets/' }),
  ],
};
