import Vue from 'vue';
import $ from 'jquery';
import { debounce } from 'lodash';
import DOMPurify from 'dompurify';
import '../stylesheets/application.css';
import { sanitizedTitle } from './lib/titles';

const App = Vue.extend({
  data: () => ({ query: '', title: sanitizedTitle(document.title, DOMPurify) }),
  render(h) {
    return h('div', { class: 'gl-app' }, [
      h('h1', { class: 'gl-title' }, this.title),
      h('input', {
        attrs: { placeholder: 'Search' },
        on: { input: debounce((event) => { this.query = event.target.value; }, 250) },
      }),
      h('p', `Searching for: ${this.query}`),
    ]);
  },
});

$(() => {
  const el = document.getElementById('js-app');
  if (el) new App().$mount(el);
  // pages are loaded on demand, as GitLab's dispatcher does
  const page = document.body.dataset.page || '';
  if (page.startsWith('projects:')) {
    import(/* webpackChunkName: 'pages.projects' */ './pages/projects').then(({ default: init }) => init($));
  }
});
