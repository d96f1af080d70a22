import { groupBy, sortBy } from 'lodash';
import '../../stylesheets/projects.css';

export default function initProjects($) {
  const rows = $('.project-row').toArray().map((row) => ({ name: row.dataset.name, group: row.dataset.group }));
  const groups = groupBy(sortBy(rows, 'name'), 'group');
  Object.keys(groups).forEach((group) => {
    $('<h2>').text(`${group} (${groups[group].length})`).appendTo('#js-projects');
  });
}
